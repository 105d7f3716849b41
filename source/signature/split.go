package signature

import "bytes"

// signatureHeaders are the commit headers that carry a signature; git
// removes them (with their continuation lines) to get the signed payload.
var signatureHeaders = [][]byte{[]byte("gpgsig "), []byte("gpgsig-sha256 ")}

// Split separates a raw commit object (without the "commit <size>\0"
// prefix) into the payload git signs and the signature. sig is nil when
// the commit carries no signature header. Only the header section is
// searched; a signature-like line in the message is part of the payload.
func Split(raw []byte) (payload, sig []byte) {
	var out []byte
	inSig := false
	for pos := 0; pos < len(raw); {
		end := len(raw)
		if nl := bytes.IndexByte(raw[pos:], '\n'); nl >= 0 {
			end = pos + nl + 1
		}
		line := raw[pos:end]
		switch {
		case line[0] == '\n': // end of headers: the message follows unchanged
			if sig == nil {
				return raw, nil
			}
			return append(out, raw[pos:]...), sig
		case inSig && line[0] == ' ':
			sig = append(sig, line[1:]...)
		case sig == nil && hasSignatureHeader(line):
			inSig = true
			out = append(make([]byte, 0, len(raw)), raw[:pos]...)
			sig = append(sig, line[bytes.IndexByte(line, ' ')+1:]...)
		default:
			inSig = false
			if sig != nil {
				out = append(out, line...)
			}
		}
		pos = end
	}
	if sig == nil {
		return raw, nil
	}
	return out, sig
}

func hasSignatureHeader(line []byte) bool {
	for _, h := range signatureHeaders {
		if bytes.HasPrefix(line, h) {
			return true
		}
	}
	return false
}
