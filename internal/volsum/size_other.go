//go:build !linux

package volsum

import (
	"errors"
	"os"
)

// blockDeviceSize is Linux's BLKGETSIZE64 only.
func blockDeviceSize(*os.File) (int64, error) {
	return 0, errors.New("the size of a block device is read on Linux only")
}
