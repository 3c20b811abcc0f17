package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
)

// rotator writes CSV rows to dir/nw_conn_NNNN.csv, each file starting with
// Header and holding whole rows, and starts the next file before a row would
// take the current one past max bytes (a file always gets at least one row).
type rotator struct {
	dir string
	max int64

	seq  int
	f    *os.File
	w    *bufio.Writer
	size int64 // bytes written to f, including those still in w
	rows int   // data rows in f

	row    bytes.Buffer // one encoded row
	rowCSV *csv.Writer
	header []byte
}

func newRotator(dir string, max int64) (*rotator, error) {
	r := &rotator{dir: dir, max: max}
	r.rowCSV = csv.NewWriter(&r.row)
	h, err := r.encode(Header)
	if err != nil {
		return nil, err
	}
	r.header = append([]byte(nil), h...)
	return r, r.open()
}

func (r *rotator) encode(rec []string) ([]byte, error) {
	r.row.Reset()
	if err := r.rowCSV.Write(rec); err != nil {
		return nil, err
	}
	r.rowCSV.Flush()
	return r.row.Bytes(), r.rowCSV.Error()
}

func (r *rotator) open() error {
	r.seq++
	f, err := os.OpenFile(filepath.Join(r.dir, fmt.Sprintf("nw_conn_%04d.csv", r.seq)),
		os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	r.f, r.w, r.rows = f, bufio.NewWriterSize(f, 64<<10), 0
	n, err := r.w.Write(r.header)
	r.size = int64(n)
	return err
}

// Write appends one row.
func (r *rotator) Write(rec []string) error {
	b, err := r.encode(rec)
	if err != nil {
		return err
	}
	if r.rows > 0 && r.size+int64(len(b)) > r.max {
		if err := r.closeFile(); err != nil {
			return err
		}
		if err := r.open(); err != nil {
			return err
		}
	}
	n, err := r.w.Write(b)
	r.size += int64(n)
	r.rows++
	return err
}

// Flush writes the buffered rows to the file.
func (r *rotator) Flush() error { return r.w.Flush() }

func (r *rotator) closeFile() error {
	err := r.w.Flush()
	if serr := r.f.Sync(); err == nil {
		err = serr
	}
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close flushes and closes the current file.
func (r *rotator) Close() error { return r.closeFile() }
