//go:build unix

package capture

import (
	"os"
	"syscall"
)

// fileID returns the device and inode of fi.
func fileID(fi os.FileInfo) (device, inode uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev), uint64(st.Ino)
	}
	return 0, 0
}
