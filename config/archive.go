package config

import (
	"fmt"
	"math"
	"reflect"
	"strings"
)

// ArchiveConfig is the [archive] table: ackmsg-archive, the datanommer/datagrepper-compatible
// archive (see package archive). Each comment gives the default that [DefaultConfig] sets. The
// table merges key by key like the top level.
type ArchiveConfig struct {
	// Store is the PostgreSQL database: a postgres:// URL or a key=value connection string.
	// Required by ackmsg-archive. Default "".
	Store string `toml:"store"`
	// Topic is the topic prefix archived ("" for every message but ACKs). Default "".
	Topic string `toml:"topic"`
	// HTTPAddress is the host:port of the datagrepper-compatible API (/raw, /v2/search, /id,
	// /v2/id) and of /live, /ready and /metrics. Empty disables it. Default "".
	HTTPAddress string `toml:"http_address"`
	// BatchSize bounds the messages committed in one transaction. Default 512.
	BatchSize int `toml:"batch_size"`
	// Retention, in seconds, deletes messages older than that; 0 keeps everything. Default 0.
	Retention Seconds `toml:"retention"`
	// QueryTimeout is the statement timeout of every API query, in seconds. Default 5.
	QueryTimeout Seconds `toml:"query_timeout"`
	// CountLimit is how far an API answer's total is counted exactly; beyond it total is
	// PostgreSQL's estimate, flagged total_estimated. Default 10000.
	CountLimit int `toml:"count_limit"`
	// DefaultDelta is datagrepper's DEFAULT_QUERY_DELTA, in seconds: the time range of a query
	// that gives none of start, end and delta; 0 means no range. Default 0.
	DefaultDelta Seconds `toml:"default_delta"`
}

// Defaults of the [archive] table.
const (
	DefaultArchiveBatchSize    = 512
	DefaultArchiveQueryTimeout = Seconds(5)
	DefaultArchiveCountLimit   = 10000
)

func defaultArchiveConfig() ArchiveConfig {
	return ArchiveConfig{BatchSize: DefaultArchiveBatchSize, QueryTimeout: DefaultArchiveQueryTimeout, CountLimit: DefaultArchiveCountLimit}
}

var archiveKeys = tomlKeys(reflect.TypeFor[ArchiveConfig]())

// checkArchiveKeys reports unknown keys in a file's [archive] table.
func checkArchiveKeys(path string, raw any) error {
	t, ok := raw.(map[string]any)
	if !ok {
		return nil
	}
	var errs errorList
	for _, k := range sortedKeys(t) {
		if !archiveKeys[k] {
			errs.add(&FileError{File: path, Key: "archive." + quoteKey(k), Err: unknownKeyIn(k, archiveKeys)})
		}
	}
	return errs.err()
}

// mergeArchive merges a file's [archive] table (layer, decoded from raw) over c.Archive.
func (c *Config) mergeArchive(path string, raw any, layer ArchiveConfig) {
	t, _ := raw.(map[string]any)
	src := reflect.ValueOf(&layer).Elem()
	dst := reflect.ValueOf(&c.Archive).Elem()
	for i := range src.NumField() {
		key, _, _ := strings.Cut(src.Type().Field(i).Tag.Get("toml"), ",")
		if _, ok := t[key]; !ok {
			continue
		}
		dst.Field(i).Set(src.Field(i))
		c.setOrigin("archive."+key, path)
	}
	c.setOrigin("archive", path)
}

// validateArchive adds the problems of c.Archive to errs. An empty store is not one: only
// ackmsg-archive needs it, and says so.
func (c *Config) validateArchive(errs *errorList) {
	bad := func(key string, format string, args ...any) {
		errs.add(&KeyError{Key: key, Source: c.Source(key), Err: fmt.Errorf(format, args...)})
	}
	a := &c.Archive
	if a.BatchSize < 1 {
		bad("archive.batch_size", "%w: %d is below 1", ErrInvalid, a.BatchSize)
	}
	if a.CountLimit < 0 {
		bad("archive.count_limit", "%w: %d is below 0", ErrInvalid, a.CountLimit)
	}
	if f := float64(a.QueryTimeout); !(f >= 0.001) || math.IsInf(f, 0) {
		bad("archive.query_timeout", "%w: %v: want a number of seconds, at least 0.001", ErrInvalid, f)
	}
	for k, s := range map[string]Seconds{"archive.retention": a.Retention, "archive.default_delta": a.DefaultDelta} {
		if f := float64(s); !(f >= 0) || math.IsInf(f, 0) {
			bad(k, "%w: %v: want 0 or a positive number of seconds", ErrInvalid, f)
		}
	}
	if a.HTTPAddress != "" {
		if err := checkListenAddress(a.HTTPAddress); err != nil {
			bad("archive.http_address", "%w", err)
		}
	}
}
