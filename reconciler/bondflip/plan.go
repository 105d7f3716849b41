package bondflip

// Waves splits the plan's nodes, in their order, into groups of at most
// maxUnavailable nodes: each group is flipped together and finished
// before the next starts.
func Waves(nodes []string, maxUnavailable int) [][]string {
	if maxUnavailable < 1 {
		maxUnavailable = 1
	}
	var out [][]string
	for i := 0; i < len(nodes); i += maxUnavailable {
		end := min(i+maxUnavailable, len(nodes))
		out = append(out, nodes[i:end])
	}
	return out
}
