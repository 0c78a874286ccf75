package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/stagehand-dev/stagehand/internal/keys"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/service"
)

// newKeyView is what `keys create` and `keys rotate` print: the only time
// the secret is ever shown.
type newKeyView struct {
	Key    registry.Key `json:"key"`
	Secret string       `json:"secret"`
}

func newKeysCommand(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Issue, list, rotate, suspend and revoke customer API keys"}

	var in struct {
		customer, name, expires string
		scopes, cidrs           []string
	}
	create := &cobra.Command{
		Use:   "create --env ENV --customer ID [--scopes a,b] [--allow-cidr 10.0.0.0/8] [--expires 2027-01-01T00:00:00Z]",
		Short: "Issue a key; its secret is printed once and never again",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := app.requireEnv(); err != nil {
				return err
			}
			exp, err := parseExpiry(in.expires)
			if err != nil {
				return err
			}
			svc, err := app.Service(cmd.Context())
			if err != nil {
				return err
			}
			k, secret, err := svc.CreateKey(cmd.Context(), service.CreateKeyInput{CustomerID: in.customer, Env: app.Env, Name: in.name, Scopes: in.scopes, AllowedCIDRs: in.cidrs, ExpiresAt: exp}, app.Actor)
			if err != nil {
				return err
			}
			return app.printNewKey(k, secret)
		},
	}
	create.Flags().StringVar(&in.customer, "customer", "", "customer id (required)")
	create.Flags().StringVar(&in.name, "name", "", "a label for the key")
	create.Flags().StringSliceVar(&in.scopes, "scopes", nil, "scopes (comma-separated)")
	create.Flags().StringSliceVar(&in.cidrs, "allow-cidr", nil, "allowed source CIDRs, IPv4 or IPv6 (repeatable)")
	create.Flags().StringVar(&in.expires, "expires", "", "expiry, RFC 3339")
	_ = create.MarkFlagRequired("customer")

	var limit int32
	var next, customer string
	list := &cobra.Command{
		Use:   "list (--customer ID | --env ENV)",
		Short: "List keys of a customer (in --env if given) or of an environment; secrets are never shown",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, err := app.Store(cmd.Context())
			if err != nil {
				return err
			}
			var p registry.Page[registry.Key]
			switch {
			case customer != "":
				p, err = store.ListKeysByCustomer(cmd.Context(), customer, app.Env, next, limit)
			case app.Env != "":
				p, err = store.ListKeysByEnv(cmd.Context(), app.Env, next, limit)
			default:
				return usageError{fmt.Errorf("give --customer or --env")}
			}
			if err != nil {
				return err
			}
			now := app.clock().Now()
			return printPage(app, p, func(w *tabwriter.Writer) {
				keyHeader(w)
				for _, k := range p.Items {
					keyRow(w, k, now)
				}
			})
		},
	}
	list.Flags().StringVar(&customer, "customer", "", "customer id")
	pageFlags(list, &limit, &next)

	get := &cobra.Command{
		Use: "get KEY_ID", Short: "Show one key (never its secret)", Args: exactArgs(1, "KEY_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := app.Store(cmd.Context())
			if err != nil {
				return err
			}
			k, err := store.GetKey(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return app.printKey(k)
		},
	}

	status := func(use, short string, to registry.KeyStatus) *cobra.Command {
		return &cobra.Command{
			Use: use + " KEY_ID", Short: short, Args: exactArgs(1, "KEY_ID"),
			RunE: func(cmd *cobra.Command, args []string) error {
				svc, err := app.Service(cmd.Context())
				if err != nil {
					return err
				}
				k, err := svc.SetKeyStatus(cmd.Context(), args[0], to, app.Actor)
				if err != nil {
					return err
				}
				return app.printKey(k)
			},
		}
	}

	var at string
	expire := &cobra.Command{
		Use: "expire KEY_ID [--at RFC3339]", Short: "Expire a key now, or set a future expiry with --at", Args: exactArgs(1, "KEY_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := app.Service(cmd.Context())
			if err != nil {
				return err
			}
			var k registry.Key
			if at == "" {
				k, err = svc.SetKeyStatus(cmd.Context(), args[0], registry.KeyExpired, app.Actor)
			} else {
				var t *time.Time
				if t, err = parseExpiry(at); err == nil {
					k, err = svc.SetKeyExpiry(cmd.Context(), args[0], *t, app.Actor)
				}
			}
			if err != nil {
				return err
			}
			return app.printKey(k)
		},
	}
	expire.Flags().StringVar(&at, "at", "", "expiry time, RFC 3339 (default: now)")

	var grace time.Duration
	rotate := &cobra.Command{
		Use:   "rotate KEY_ID [--grace 24h]",
		Short: "Issue a successor key; the old key keeps working for the grace period, then expires",
		Args:  exactArgs(1, "KEY_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := app.Service(cmd.Context())
			if err != nil {
				return err
			}
			_, next, secret, err := svc.RotateKey(cmd.Context(), args[0], grace, app.Actor)
			if err != nil {
				return err
			}
			return app.printNewKey(next, secret)
		},
	}
	rotate.Flags().DurationVar(&grace, "grace", keys.DefaultRotationGrace, "how long the old key stays valid")

	cmd.AddCommand(create, list, get,
		status("suspend", "Suspend a key (resume brings it back)", registry.KeySuspended),
		status("resume", "Resume a suspended key", registry.KeyActive),
		status("revoke", "Revoke a key for good", registry.KeyRevoked),
		expire, rotate)
	return cmd
}

func parseExpiry(s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, fmt.Errorf("expires: %q is not an RFC 3339 time (e.g. 2027-01-01T00:00:00Z)", s)
	}
	return &t, nil
}

func (a *App) printNewKey(k registry.Key, secret keys.Secret) error {
	v := newKeyView{Key: k, Secret: secret.Plaintext}
	return a.print(v, func(w *tabwriter.Writer) {
		keyHeader(w)
		keyRow(w, k, a.clock().Now())
		fmt.Fprintf(w, "\nsecret (shown once, store it now): %s\n", secret.Plaintext)
	})
}

func (a *App) printKey(k registry.Key) error {
	return a.print(k, func(w *tabwriter.Writer) {
		keyHeader(w)
		keyRow(w, k, a.clock().Now())
	})
}

func keyHeader(w *tabwriter.Writer) {
	fmt.Fprintln(w, "ID\tPREFIX\tCUSTOMER\tENV\tSTATUS\tEXPIRES\tSCOPES\tALLOWED CIDRS")
}

func keyRow(w *tabwriter.Writer, k registry.Key, now time.Time) {
	exp := "-"
	if k.ExpiresAt != nil {
		exp = k.ExpiresAt.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.DisplayPrefix, k.CustomerID, k.Env,
		k.EffectiveStatus(now), exp, strings.Join(k.Scopes, " "), strings.Join(k.AllowedCIDRs, " "))
}
