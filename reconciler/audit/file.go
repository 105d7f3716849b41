package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/nodewright/nodewright/internal/atomicfile"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// FileSink appends audit records to a local JSONL file, one record per
// line in the same format as the status branch's audit.jsonl, and fsyncs
// after every Deliver. Only one FileSink may have a file open at a time.
// It is safe for concurrent use.
type FileSink struct {
	path string

	mu     sync.Mutex
	f      *os.File
	size   int64  // bytes of complete, synced lines
	seq    int64  // the last record's seq, 0 for none
	hash   string // the last record's hash
	torn   *TornLine
	broken error // set when a failed write could not be undone
	closed bool
}

// TornLine describes an incomplete last line, left by a crash in the
// middle of a write, that OpenFile cut off. Its records were never
// acknowledged, so the pump delivers them again.
type TornLine struct {
	// Path is the file that was repaired.
	Path string
	// Offset is where the file now ends: the end of its last complete line.
	Offset int64
	// Bytes is how many bytes were cut off.
	Bytes int64
}

// String describes the repair for a log line or an event.
func (t *TornLine) String() string {
	return fmt.Sprintf("%s: cut off a torn last line of %d bytes at offset %d", t.Path, t.Bytes, t.Offset)
}

// OpenFile opens (creating if needed) the JSONL file at path for appending.
// It learns Delivered() from the last complete line. If the file ends in an
// incomplete line, that line is truncated away and Repaired reports it; a
// last complete line that is not a valid record is an error, so that a
// damaged file is never appended to.
func OpenFile(path string) (*FileSink, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("audit: open %s: %w", path, err)
	}
	s := &FileSink{path: path, f: f}
	if err := s.load(); err != nil {
		_ = f.Close()
		return nil, err
	}
	// A file just created survives a crash only with its directory synced.
	if err := atomicfile.SyncDir(filepath.Dir(path)); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("audit: %w", err)
	}
	return s, nil
}

// load reads the end of the file: it cuts off a torn last line and reads
// the seq and hash of the last complete one.
func (s *FileSink) load() error {
	fi, err := s.f.Stat()
	if err != nil {
		return fmt.Errorf("audit: %s: %w", s.path, err)
	}
	size := fi.Size()
	nl, err := lastNewline(s.f, size, 0)
	if err != nil {
		return fmt.Errorf("audit: %s: %w", s.path, err)
	}
	end := nl + 1 // 0 when there is no complete line
	if end < size {
		if err := s.f.Truncate(end); err != nil {
			return fmt.Errorf("audit: %s: cut off torn last line: %w", s.path, err)
		}
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("audit: %s: cut off torn last line: %w", s.path, err)
		}
		s.torn = &TornLine{Path: s.path, Offset: end, Bytes: size - end}
	}
	s.size = end
	if end == 0 {
		return nil
	}
	start, err := lastNewline(s.f, nl, MaxLineBytes+1)
	if err != nil {
		return fmt.Errorf("audit: %s: last line: %w", s.path, err)
	}
	start++
	line := make([]byte, nl-start)
	if _, err := s.f.ReadAt(line, start); err != nil {
		return fmt.Errorf("audit: %s: %w", s.path, err)
	}
	rec, err := decodeRecord(line)
	if err == nil {
		err = Verify([]v1.AuditRecord{rec})
	}
	if err != nil {
		return fmt.Errorf("audit: %s: last line (offset %d) is not a valid audit record, refusing to append: %w", s.path, start, err)
	}
	s.seq, s.hash = rec.Seq, rec.Hash
	return nil
}

// Repaired reports the torn last line OpenFile cut off, or nil if the file
// ended cleanly.
func (s *FileSink) Repaired() *TornLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.torn
}

// Path returns the file's path.
func (s *FileSink) Path() string { return s.path }

// Delivered returns the seq of the last record in the file, 0 for none.
func (s *FileSink) Delivered() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// Deliver appends the records above Delivered() and fsyncs the file. The
// records must continue the file's chain (seq +1, prev = the last hash,
// valid hashes; an empty file accepts any start), else nothing is written
// and a *BrokenLinkError, whose Line counts within the records not
// skipped, says why. A failed write is undone by truncation.
func (s *FileSink) Deliver(ctx context.Context, records []v1.AuditRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.broken != nil {
		return s.broken
	}
	records = skipDelivered(records, s.seq)
	if len(records) == 0 {
		return nil
	}
	var err error
	if s.seq > 0 {
		err = VerifyFrom(v1.AuditLog{Seq: s.seq, Hash: s.hash}, records)
	} else {
		err = Verify(records)
	}
	if err != nil {
		return fmt.Errorf("audit: %s: refusing records: %w", s.path, err)
	}
	buf, err := encodeLines(records)
	if err != nil {
		return fmt.Errorf("audit: %s: %w", s.path, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.append(buf); err != nil {
		return err
	}
	last := records[len(records)-1]
	s.seq, s.hash = last.Seq, last.Hash
	return nil
}

// append writes buf at the end of the file and fsyncs, or undoes the write.
func (s *FileSink) append(buf []byte) error {
	_, err := s.f.Write(buf)
	if err == nil {
		err = s.f.Sync()
	}
	if err == nil {
		s.size += int64(len(buf))
		return nil
	}
	err = fmt.Errorf("audit: %s: write: %w", s.path, err)
	terr := s.f.Truncate(s.size)
	if terr == nil {
		terr = s.f.Sync()
	}
	if terr != nil {
		s.broken = fmt.Errorf("%w; undoing it failed too (%w): reopen the sink to repair the file", err, terr)
		return s.broken
	}
	return err
}

// Close closes the file.
func (s *FileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.f.Close()
}

// committed returns the open file and how many of its bytes are complete,
// synced lines. Reading below that size needs no lock.
func (s *FileSink) committed() (*os.File, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, 0, ErrClosed
	}
	return s.f, s.size, nil
}

// truncateIfSize empties the file if it is exactly size bytes long,
// keeping Delivered(): the HTTP sink uses it to drop a fully acknowledged
// spool. It reports whether the file was emptied.
func (s *FileSink) truncateIfSize(size int64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.broken != nil || s.size != size {
		return false, nil
	}
	if err := s.f.Truncate(0); err != nil {
		return false, fmt.Errorf("audit: %s: truncate: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return false, fmt.Errorf("audit: %s: truncate: %w", s.path, err)
	}
	s.size = 0
	return true, nil
}

// continueFrom makes an empty file continue the chain at (seq, hash); the
// HTTP sink uses it after a restart with a fully acknowledged spool.
func (s *FileSink) continueFrom(seq int64, hash string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq, s.hash = seq, hash
}

// encodeLines renders records as JSONL and checks that every line reads
// back to a record with the same hash, so that a sink never stores a line
// ParseJSONL or Verify would refuse.
func encodeLines(records []v1.AuditRecord) ([]byte, error) {
	var buf bytes.Buffer
	for _, r := range records {
		line, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("encode seq %d: %w", r.Seq, err)
		}
		back, err := decodeRecord(line)
		if err != nil {
			return nil, fmt.Errorf("seq %d does not read back: %w", r.Seq, err)
		}
		if Hash(back) != r.Hash {
			return nil, fmt.Errorf("seq %d does not survive a JSON round trip (its time or text cannot be represented)", r.Seq)
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}

// lastNewline returns the offset of the last '\n' before end, or -1 if
// there is none. With limit > 0 it gives up with errLineTooLong after
// looking at limit bytes.
func lastNewline(f io.ReaderAt, end, limit int64) (int64, error) {
	const chunk = 32 << 10
	buf := make([]byte, chunk)
	for pos := end; pos > 0; {
		if limit > 0 && end-pos >= limit {
			return 0, errLineTooLong
		}
		n := min(int64(chunk), pos)
		pos -= n
		if _, err := f.ReadAt(buf[:n], pos); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return pos + int64(i), nil
		}
	}
	return -1, nil
}
