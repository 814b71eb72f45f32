//go:build linux

package certs

import (
	"io/fs"
	"syscall"
)

// fileID identifies one version of a file: an atomic rename changes the inode, an in-place write
// changes mtime/ctime and usually the size.
type fileID struct {
	size  int64
	mtime int64
	ctime int64
	ino   uint64
	dev   uint64
}

func fileIDOf(fi fs.FileInfo) fileID {
	id := fileID{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.ino = st.Ino
		id.dev = st.Dev
		id.ctime = st.Ctim.Nano()
	}
	return id
}
