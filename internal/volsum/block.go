package volsum

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// BlockDigest is the SHA-256 of the whole content of a block device, or
// of a regular file standing in for one.
func BlockDigest(ctx context.Context, path string, opts Options) (Digest, error) {
	dev, err := openDevice(path)
	if err != nil {
		return Digest{}, err
	}
	defer dev.f.Close()
	p := newProgress(opts.Progress, dev.size)
	return dev.digest(ctx, opts.bufferSize(), p.add)
}

// device is an open volume and its size.
type device struct {
	path string
	f    *os.File
	size int64
}

// openDevice opens a block device or a regular file for reading and
// learns its size from the device itself.
func openDevice(path string) (*device, error) {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("block volume %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("block volume %s: stat: %w", path, err)
	}
	d := &device{path: path, f: f}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFBLK:
		size, err := blockDeviceSize(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("block volume %s: size of the device (BLKGETSIZE64): %w", path, err)
		}
		d.size = size
	case unix.S_IFREG:
		d.size = st.Size
	case unix.S_IFDIR:
		f.Close()
		return nil, fmt.Errorf("block volume %s: is a directory, not a block device (a mounted volume is read with mode filesystem)", path)
	default:
		f.Close()
		return nil, fmt.Errorf("block volume %s: is a %s, not a block device or a regular file", path, fileType(st.Mode))
	}
	// Sequential reads: let the kernel read ahead generously. Advice
	// only; a file system that ignores it still reads correctly.
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_SEQUENTIAL)
	return d, nil
}

// digest reads exactly d.size bytes and reports each buffer to add.
func (d *device) digest(ctx context.Context, bufSize int, add func(int64)) (Digest, error) {
	h := sha256.New()
	buf := make([]byte, bufSize)
	var done int64
	for done < d.size {
		if err := ctx.Err(); err != nil {
			return Digest{}, fmt.Errorf("block volume %s: stopped after %d of %d bytes: %w", d.path, done, d.size, err)
		}
		want := min(int64(len(buf)), d.size-done)
		n, err := io.ReadFull(d.f, buf[:want])
		h.Write(buf[:n])
		done += int64(n)
		add(int64(n))
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Digest{}, fmt.Errorf("block volume %s: ended after %d bytes of the %d it reports", d.path, done, d.size)
		}
		if err != nil {
			return Digest{}, fmt.Errorf("block volume %s: read at offset %d: %w", d.path, done, err)
		}
	}
	return Digest{Path: d.path, SHA256: hex.EncodeToString(h.Sum(nil)), Size: d.size}, nil
}

// compareBlocks digests two devices concurrently (they are usually on
// different disks).
func compareBlocks(ctx context.Context, source, target string, opts Options) (Result, error) {
	src, err := openDevice(source)
	if err != nil {
		return Result{}, err
	}
	defer src.f.Close()
	dst, err := openDevice(target)
	if err != nil {
		return Result{}, err
	}
	defer dst.f.Close()
	p := newProgress(opts.Progress, src.size+dst.size)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		dd   Digest
		derr error
	)
	wg.Go(func() {
		dd, derr = dst.digest(ctx, opts.bufferSize(), p.add)
		if derr != nil {
			cancel()
		}
	})
	sd, serr := src.digest(ctx, opts.bufferSize(), p.add)
	if serr != nil {
		cancel()
	}
	wg.Wait()
	if err := firstCause(serr, derr); err != nil {
		return Result{}, err
	}
	r := Result{Mode: Block, Source: sd, Target: dd}
	verdict(&r)
	return r, nil
}

// firstCause is the error that stopped a comparison: one side's failure
// cancels the other, whose context.Canceled is not the news.
func firstCause(a, b error) error {
	if a != nil && b != nil && errors.Is(a, context.Canceled) && !errors.Is(b, context.Canceled) {
		return b
	}
	if a != nil {
		return a
	}
	return b
}

// progress serialises the reports of concurrent readers.
type progress struct {
	mu    sync.Mutex
	fn    func(done, total int64)
	done  int64
	total int64
}

func newProgress(fn func(done, total int64), total int64) *progress {
	return &progress{fn: fn, total: total}
}

func (p *progress) add(n int64) {
	if p.fn == nil || n == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	p.fn(p.done, p.total)
}
