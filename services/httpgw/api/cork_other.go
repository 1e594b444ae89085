//go:build !linux

package api

// cork is Linux's TCP_CORK; elsewhere replies go out as net/http writes them.
func (cs *connState) cork(bool) bool { return false }
