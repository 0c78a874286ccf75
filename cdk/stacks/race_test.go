//go:build race

package stacks_test

const raceEnabled = true
