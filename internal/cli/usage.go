package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stagehand-dev/stagehand/internal/keys"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/service"
)

// Exit codes, documented in docs/cli.md. Scripts branch on them, so they
// never change meaning.
const (
	ExitOK       = 0 // success
	ExitError    = 1 // the command ran and failed (AWS error, conflict, verify not ready, ...)
	ExitUsage    = 2 // the command line or a value in it is wrong: nothing was written
	ExitNotFound = 3 // a customer, key, plan, binding or deployment named does not exist
)

// usageError marks errors in how the command was called (exit 2).
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

// exitCode maps an error returned by the command tree to the exit code.
func exitCode(err error) int {
	var u usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &u) || isCobraUsageError(err),
		errors.Is(err, service.ErrInvalidInput), errors.Is(err, registry.ErrInvalidPlan):
		return ExitUsage
	case errors.Is(err, registry.ErrNotFound):
		return ExitNotFound
	}
	return ExitError
}

// isCobraUsageError recognises the few errors cobra and pflag return
// untyped (an unknown command of the root found by Find, a required flag
// left out where a command validates flags itself): the tree walk below
// makes them usage errors already; this is the safety net.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, prefix := range []string{"unknown command ", "unknown flag: ", "unknown shorthand flag: ", "required flag(s) ",
		"invalid argument ", "flag needs an argument: ", "bad flag syntax: ", "if any flags in the group "} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}

// oneLine flattens an error message to one line: cobra's suggestions and a
// few wrapped errors carry newlines and tabs.
func oneLine(msg string) string {
	var parts []string
	for _, line := range strings.Split(msg, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			parts = append(parts, line)
		}
	}
	return strings.Join(parts, " ")
}

// enforceUsage walks the whole command tree once it is built, so every
// command group (including ones added later to `commands`) gets the same
// rules without its author doing anything:
//
//   - a group called without a subcommand, or with an unknown one, is a
//     usage error (cobra would print help and exit 0);
//   - any Args validator's error is a usage error;
//   - a flag that does not parse is a usage error (FlagErrorFunc is
//     inherited from the root);
//   - before a command runs, the global flags are checked (--output, --env)
//     and its required flags and flag groups validated, each failure a
//     usage error.
func enforceUsage(root *cobra.Command, app *App) {
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	if help, _, err := root.Find([]string{"help"}); err == nil && help != root && help.Run != nil {
		show := help.Run
		help.Run = nil
		help.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				if target, _, err := root.Find(args); err != nil || target == root {
					return usageError{fmt.Errorf("unknown help topic %q; one of the commands of stagehand --help", strings.Join(args, " "))}
				}
			}
			show(cmd, args)
			return nil
		}
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
			c.Args = cobra.ArbitraryArgs
			c.RunE = unknownSubcommand
			if c.Annotations == nil {
				c.Annotations = map[string]string{}
			}
			c.Annotations[GroupAnnotation] = "true"
		}
		if c.SuggestionsMinimumDistance <= 0 {
			c.SuggestionsMinimumDistance = 2
		}
		// The global flags first, then the command's own arguments: cobra
		// validates arguments before any hook runs.
		validate := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := app.checkGlobals(); err != nil {
				return usageError{err}
			}
			if validate == nil {
				return nil // cobra's default for a subcommand: any arguments
			}
			if err := validate(cmd, args); err != nil {
				var u usageError
				if errors.As(err, &u) {
					return err
				}
				return usageError{err}
			}
			return nil
		}
		if c.Runnable() {
			preE, pre := c.PreRunE, c.PreRun
			c.PreRun = nil
			c.PreRunE = func(cmd *cobra.Command, args []string) error {
				if err := cmd.ValidateRequiredFlags(); err != nil {
					return usageError{err}
				}
				if err := cmd.ValidateFlagGroups(); err != nil {
					return usageError{err}
				}
				switch {
				case preE != nil:
					return preE(cmd, args)
				case pre != nil:
					pre(cmd, args)
				}
				return nil
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// GroupAnnotation marks a command group (a command that only holds
// subcommands) in the built tree.
const GroupAnnotation = "stagehand:group"

// unknownSubcommand is the RunE of every command group.
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	if len(args) == 0 {
		return usageError{fmt.Errorf("%s needs a command: one of %s (see %s --help)", cmd.CommandPath(), strings.Join(names, ", "), cmd.CommandPath())}
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", s[0])
	} else {
		msg += "; one of " + strings.Join(names, ", ")
	}
	return usageError{errors.New(msg)}
}

// checkGlobals validates the global flags (and the variables they default
// from) before any command runs.
func (a *App) checkGlobals() error {
	if a.Output != "table" && a.Output != "json" {
		return fmt.Errorf("--output must be table or json, not %q", a.Output)
	}
	if a.Env != "" && !keys.ValidEnv(a.Env) {
		return fmt.Errorf("--env (or STAGEHAND_ENV) %q must be 2-16 characters of a-z and 0-9, starting with a letter (dev, staging, prod)", a.Env)
	}
	return nil
}

// maxLimit is the largest page a list command asks for.
const maxLimit = 1000

// limitValue is --limit: an integer from 1 to maxLimit, checked when the
// flag is parsed, so a bad value is a usage error before anything runs.
type limitValue int32

func (l *limitValue) String() string { return strconv.Itoa(int(*l)) }
func (l *limitValue) Type() string   { return "int" }
func (l *limitValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxLimit {
		return fmt.Errorf("must be a whole number from 1 to %d", maxLimit)
	}
	*l = limitValue(n)
	return nil
}

// planFlagError renames a plan field in err to the plans put flag that sets
// it.
func planFlagError(err error) error {
	var fe *registry.PlanFieldError
	if !errors.As(err, &fe) {
		return err
	}
	flag := map[string]string{"name": "NAME", "rateLimit": "--rate", "burstLimit": "--burst", "quotaLimit": "--quota", "quotaPeriod": "--quota-period"}[fe.Field]
	if flag == "" {
		return err
	}
	return fmt.Errorf("%s: %s", flag, fe.Reason)
}
