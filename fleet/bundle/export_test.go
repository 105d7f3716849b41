package bundle

// MarshalForTest renders the manifest's JSON without validating it, so
// that tests can build manifests Sign would refuse.
func (m *Manifest) MarshalForTest() ([]byte, error) { return m.encode() }
