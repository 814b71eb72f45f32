//go:build !linux

package certs

import "io/fs"

// fileID identifies one version of a file by size and mtime (inode and ctime are read on Linux).
type fileID struct {
	size  int64
	mtime int64
}

func fileIDOf(fi fs.FileInfo) fileID {
	return fileID{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}
