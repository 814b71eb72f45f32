package replay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"time"
)

// stateVersion is the format of the state file.
const stateVersion = 1

// stateDoc is the state file: JSON, {"version": 1, "last_seq_ids": {"<name>": <seq_id>}}.
type stateDoc struct {
	Version    int              `json:"version"`
	LastSeqIDs map[string]int64 `json:"last_seq_ids"`
}

type stateFile struct {
	path    string
	written map[string]int64
	at      time.Time
}

// openState reads the state file at path; a missing file is an empty state.
func openState(path string) (*stateFile, map[string]int64, error) {
	st := &stateFile{path: path, written: map[string]int64{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, map[string]int64{}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("replay: state file: %w", err)
	}
	var doc stateDoc
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, nil, fmt.Errorf("replay: state file %s is not a consumer state (%v); remove it to start afresh", path, err)
	}
	if doc.Version != stateVersion {
		return nil, nil, fmt.Errorf("replay: state file %s has version %d; this program reads version %d", path, doc.Version, stateVersion)
	}
	if doc.LastSeqIDs == nil {
		doc.LastSeqIDs = map[string]int64{}
	}
	st.written = maps.Clone(doc.LastSeqIDs)
	return st, doc.LastSeqIDs, nil
}

// save writes last when it differs from what was written and interval passed: a temporary file
// renamed over the old one, so a crash leaves the old state or the new one, never half of one.
// It is not fsync'd: it survives the process, not the machine (the worst case is replaying
// again what was delivered since the last write that reached the disk).
func (s *stateFile) save(last map[string]int64, interval time.Duration) error {
	if maps.Equal(last, s.written) || interval > 0 && time.Since(s.at) < interval {
		return nil
	}
	data, err := json.Marshal(stateDoc{Version: stateVersion, LastSeqIDs: last})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), "."+filepath.Base(s.path)+".*")
	if err != nil {
		return fmt.Errorf("replay: state file: %w", err)
	}
	_, werr := tmp.Write(append(data, '\n'))
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("replay: state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("replay: state file: %w", err)
	}
	s.written, s.at = last, time.Now()
	return nil
}
