package hub

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/message"
)

// File is a consumer that appends each message to a file as one line of canonical JSON (the
// envelope, as ackmsg-tail --json prints it). With fsync "always" Consume returns nil only once
// the line is on disk, so an ACK means the message survives a machine crash; concurrent workers
// share fsyncs (group commit). With "never" it returns once the operating system has the line,
// which survives a crash of the hub but not of the machine.
//
// The file is opened with O_APPEND and each line is written with one write call. A write that
// fails part way (a full disk) can leave a partial line, followed by the next message's line;
// readers should skip lines that do not parse.
type File struct {
	name   string
	topics []string
	path   string
	fsync  bool

	mu      sync.Mutex // guards f and written
	f       *os.File
	written uint64 // lines written

	smu     sync.Mutex // guards synced and syncing
	cond    *sync.Cond
	synced  uint64 // lines known to be on disk
	syncing bool
}

// NewFile opens (creating it, mode 0640) the file of a [[hub.consumers]] table of kind "file".
func NewFile(hc config.HubConsumer) (*File, error) {
	if hc.Path == "" {
		return nil, fmt.Errorf("hub: file consumer %q: empty path", hc.Name)
	}
	_, statErr := os.Stat(hc.Path)
	f, err := os.OpenFile(hc.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("hub: file consumer %q: %w", hc.Name, err)
	}
	fc := &File{name: hc.Name, topics: slices.Clone(hc.Topics), path: hc.Path, f: f, fsync: hc.Fsync != config.HubFsyncNever}
	fc.cond = sync.NewCond(&fc.smu)
	if errors.Is(statErr, os.ErrNotExist) && fc.fsync {
		// A new file's directory entry must be durable too.
		if err := syncDir(filepath.Dir(hc.Path)); err != nil {
			f.Close()
			return nil, fmt.Errorf("hub: file consumer %q: %w", hc.Name, err)
		}
	}
	return fc, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Topics implements consumer.Consumer.
func (fc *File) Topics() []string { return fc.topics }

// Path is the file written to.
func (fc *File) Path() string { return fc.path }

// Consume appends the envelope as one line and, with fsync "always", waits until it is on disk.
func (fc *File) Consume(_ context.Context, m *message.Message) error {
	line, err := m.Marshal()
	if err != nil {
		return fmt.Errorf("encoding the envelope: %w", err)
	}
	line = append(line, '\n')
	fc.mu.Lock()
	if fc.f == nil {
		fc.mu.Unlock()
		return fmt.Errorf("appending to %s: file consumer closed", fc.path)
	}
	_, err = fc.f.Write(line)
	fc.written++
	seq := fc.written
	fc.mu.Unlock()
	if err != nil {
		return fmt.Errorf("appending to %s: %w", fc.path, err)
	}
	if !fc.fsync {
		return nil
	}
	return fc.syncThrough(seq)
}

// syncThrough returns once line seq is on disk. One caller at a time runs fsync, covering every
// line written before it started; the others wait for it and return if it covered theirs.
func (fc *File) syncThrough(seq uint64) error {
	fc.smu.Lock()
	defer fc.smu.Unlock()
	for fc.synced < seq {
		if fc.syncing {
			fc.cond.Wait()
			continue
		}
		fc.syncing = true
		fc.mu.Lock()
		target, f := fc.written, fc.f
		fc.mu.Unlock()
		fc.smu.Unlock()
		err := errors.New("file consumer closed")
		if f != nil {
			err = f.Sync()
		}
		fc.smu.Lock()
		fc.syncing = false
		if err == nil && target > fc.synced {
			fc.synced = target
		}
		fc.cond.Broadcast()
		if err != nil {
			return fmt.Errorf("fsync %s: %w", fc.path, err)
		}
	}
	return nil
}

// Close syncs and closes the file. Consume fails afterwards.
func (fc *File) Close() error {
	fc.mu.Lock()
	f := fc.f
	fc.f = nil
	fc.mu.Unlock()
	if f == nil {
		return nil
	}
	// Wait for an fsync in progress, which uses f.
	fc.smu.Lock()
	for fc.syncing {
		fc.cond.Wait()
	}
	fc.smu.Unlock()
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
