//go:build !race

package stacks_test

const raceEnabled = false
