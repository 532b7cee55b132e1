//go:build linux || darwin

package socket

import "net"

// peerUIDBy runs read on c's descriptor to learn the user id the kernel
// recorded for the process at the other end when it connected.
func peerUIDBy(c *net.UnixConn, read func(fd int) (uid int, err error)) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	uid := -1
	var rerr error
	if err := raw.Control(func(fd uintptr) { uid, rerr = read(int(fd)) }); err != nil {
		return -1, err
	}
	return uid, rerr
}
