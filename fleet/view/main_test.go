package view_test

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/nodewright/nodewright/fleet/view/viewtest"
)

// packageTB is a harness.TB that lives for the whole test binary, so that
// fleets built once can be forked by every test.
type packageTB struct {
	dir      string
	n        int
	mu       sync.Mutex
	cleanups []func()
}

func (p *packageTB) Helper() {}

func (p *packageTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (p *packageTB) Errorf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

func (p *packageTB) Cleanup(fn func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cleanups = append(p.cleanups, fn)
}

func (p *packageTB) TempDir() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	dir := fmt.Sprintf("%s/%03d", p.dir, p.n)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		panic(err)
	}
	return dir
}

var (
	shared     *packageTB
	chainOnce  sync.Once
	chainBase  *viewtest.Fleet
	sampleOnce sync.Once
	sampleBase *viewtest.Fleet
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nodewright-view-")
	if err != nil {
		panic(err)
	}
	shared = &packageTB{dir: dir}
	code := m.Run()
	for i := len(shared.cleanups) - 1; i >= 0; i-- {
		shared.cleanups[i]()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}
