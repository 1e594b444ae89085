package api

import "syscall"

// cork sets or clears TCP_CORK, reporting whether it could.
func (cs *connState) cork(on bool) bool {
	v := 0
	if on {
		v = 1
	}
	var serr error
	err := cs.raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, v)
	})
	return err == nil && serr == nil
}
