// Command stagehand is the operator CLI. Everything it does lives in
// internal/cli; run `stagehand --help`.
package main

import (
	"os"

	"github.com/stagehand-dev/stagehand/internal/cli"
)

func main() { os.Exit(cli.Main()) }
