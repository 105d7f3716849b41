// Command etcd is the etcd server that the envtest integration tests run,
// built from the Go module proxy at the version pinned in this module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
