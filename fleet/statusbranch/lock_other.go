//go:build !unix

package statusbranch

import "os"

// lockDir creates path; without flock the queue directory is not guarded
// against a second Writer.
func lockDir(path string) (func() error, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	return f.Close, nil
}
