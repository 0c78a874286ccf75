package cli

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/service"
)

func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("expected %s, got %d argument(s)", names, len(args))}
		}
		return nil
	}
}

func newCustomersCommand(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "customers", Short: "Create, list and suspend customers; put them on plans"}

	var name string
	create := &cobra.Command{
		Use: "create ID --name NAME", Short: "Create an active customer", Args: exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := app.Service(cmd.Context())
			if err != nil {
				return err
			}
			c, err := svc.CreateCustomer(cmd.Context(), args[0], name, app.Actor)
			if err != nil {
				return err
			}
			return app.printCustomers(c)
		},
	}
	create.Flags().StringVar(&name, "name", "", "display name (required)")

	get := &cobra.Command{
		Use: "get ID", Short: "Show a customer and its subscriptions", Args: exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := app.Store(cmd.Context())
			if err != nil {
				return err
			}
			c, err := store.GetCustomer(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			subs, err := store.ListCustomerSubscriptions(cmd.Context(), c.ID)
			if err != nil {
				return err
			}
			return app.print(struct {
				registry.Customer
				Subscriptions []registry.Subscription `json:"subscriptions"`
			}{c, subs}, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "ID\tNAME\tSTATUS\tCREATED\n%s\t%s\t%s\t%s\n\n", c.ID, c.Name, c.Status, c.CreatedAt.Format(time.RFC3339))
				fmt.Fprintln(w, "ENV\tPLAN\tUSAGE KEY ID")
				for _, s := range subs {
					fmt.Fprintf(w, "%s\t%s\t%s\n", s.Env, s.Plan, s.UsageKeyID)
				}
			})
		},
	}

	var limit int32
	var next string
	list := &cobra.Command{
		Use: "list", Short: "List customers (one page; --next continues)", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, err := app.Store(cmd.Context())
			if err != nil {
				return err
			}
			p, err := store.ListCustomers(cmd.Context(), next, limit)
			if err != nil {
				return err
			}
			return printPage(app, p, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tNAME\tSTATUS")
				for _, c := range p.Items {
					fmt.Fprintf(w, "%s\t%s\t%s\n", c.ID, c.Name, c.Status)
				}
			})
		},
	}
	pageFlags(list, &limit, &next)

	status := func(use, short string, to registry.CustomerStatus) *cobra.Command {
		return &cobra.Command{
			Use: use + " ID", Short: short, Args: exactArgs(1, "ID"),
			RunE: func(cmd *cobra.Command, args []string) error {
				svc, err := app.Service(cmd.Context())
				if err != nil {
					return err
				}
				c, err := svc.SetCustomerStatus(cmd.Context(), args[0], to, app.Actor)
				if err != nil {
					return err
				}
				return app.printCustomers(c)
			},
		}
	}

	var plan, usageKeyID, usageKeyValue string
	subscribe := &cobra.Command{
		Use:   "subscribe ID --env ENV --plan PLAN",
		Short: "Put a customer on a plan in an environment (creates its API Gateway metering key)",
		Args:  exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := app.requireEnv(); err != nil {
				return err
			}
			svc, err := app.Service(cmd.Context())
			if err != nil {
				return err
			}
			var existing *service.ExistingUsageKey
			if usageKeyID != "" || usageKeyValue != "" {
				existing = &service.ExistingUsageKey{ID: usageKeyID, Value: usageKeyValue}
			}
			s, err := svc.Subscribe(cmd.Context(), args[0], app.Env, plan, existing, app.Actor)
			if err != nil {
				return err
			}
			return app.printSubscription(s)
		},
	}
	subscribe.Flags().StringVar(&plan, "plan", "", "plan tier (required)")
	subscribe.Flags().StringVar(&usageKeyID, "usage-key-id", "", "import: an existing API Gateway key id instead of creating one")
	subscribe.Flags().StringVar(&usageKeyValue, "usage-key-value", "", "import: that key's value")

	changePlan := &cobra.Command{
		Use: "change-plan ID --env ENV --plan PLAN", Short: "Move a customer to another plan", Args: exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := app.requireEnv(); err != nil {
				return err
			}
			svc, err := app.Service(cmd.Context())
			if err != nil {
				return err
			}
			s, err := svc.ChangePlan(cmd.Context(), args[0], app.Env, plan, app.Actor)
			if err != nil {
				return err
			}
			return app.printSubscription(s)
		},
	}
	changePlan.Flags().StringVar(&plan, "plan", "", "new plan tier (required)")

	for _, c := range []*cobra.Command{create, subscribe, changePlan} {
		for _, f := range []string{"name", "plan"} {
			if c.Flags().Lookup(f) != nil {
				_ = c.MarkFlagRequired(f)
			}
		}
	}
	cmd.AddCommand(create, get, list, status("suspend", "Suspend a customer: every key and JWT client is rejected", registry.CustomerSuspended),
		status("resume", "Resume a suspended customer", registry.CustomerActive), subscribe, changePlan)
	return cmd
}

func (a *App) printCustomers(c registry.Customer) error {
	return a.print(c, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "ID\tNAME\tSTATUS\tVERSION\n%s\t%s\t%s\t%d\n", c.ID, c.Name, c.Status, c.Version)
	})
}

func (a *App) printSubscription(s registry.Subscription) error {
	return a.print(s, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "CUSTOMER\tENV\tPLAN\tSTATUS\tUSAGE KEY ID\n%s\t%s\t%s\t%s\t%s\n", s.CustomerID, s.Env, s.Plan, s.CustomerStatus, s.UsageKeyID)
	})
}

func pageFlags(c *cobra.Command, limit *int32, next *string) {
	*limit = 50
	c.Flags().Var((*limitValue)(limit), "limit", fmt.Sprintf("items per page, 1-%d", maxLimit))
	c.Flags().StringVar(next, "next", "", "cursor printed by the previous page")
}

func newPlansCommand(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "plans", Short: "List and register plans (usage plans) of an environment"}
	list := &cobra.Command{
		Use: "list --env ENV", Short: "List an environment's plans", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := app.requireEnv(); err != nil {
				return err
			}
			store, err := app.Store(cmd.Context())
			if err != nil {
				return err
			}
			plans, err := store.ListPlans(cmd.Context(), app.Env)
			if err != nil {
				return err
			}
			return printList(app, plans, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "NAME\tUSAGE PLAN\tRATE\tBURST\tQUOTA")
				for _, p := range plans {
					fmt.Fprintf(w, "%s\t%s\t%g/s\t%d\t%s\n", p.Name, p.UsagePlanID, p.RateLimit, p.BurstLimit, quota(p))
				}
			})
		},
	}
	var p registry.Plan
	put := &cobra.Command{
		Use:   "put NAME --env ENV [--usage-plan-id ID]",
		Short: "Put one plan into the registry (normally declared in the config file: plans apply); reconcile creates or adopts its usage plan",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := app.requireEnv(); err != nil {
				return err
			}
			p.Env, p.Name = app.Env, args[0]
			if err := p.Validate(); err != nil {
				return usageError{planFlagError(err)}
			}
			store, err := app.Store(cmd.Context())
			if err != nil {
				return err
			}
			saved, err := store.PutPlan(cmd.Context(), p, app.Actor)
			if err != nil {
				return err
			}
			return app.print(saved, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "NAME\tUSAGE PLAN\n%s\t%s\n", saved.Name, saved.UsagePlanID)
			})
		},
	}
	put.Flags().StringVar(&p.UsagePlanID, "usage-plan-id", "", "API Gateway usage plan id (empty: reconcile adopts the plan tagged with the tier, or creates one)")
	put.Flags().Float64Var(&p.RateLimit, "rate", 0, "throttle rate (requests/s)")
	put.Flags().Int32Var(&p.BurstLimit, "burst", 0, "throttle burst")
	put.Flags().Int32Var(&p.QuotaLimit, "quota", 0, "quota limit")
	put.Flags().StringVar(&p.QuotaPeriod, "quota-period", "", "DAY, WEEK or MONTH")
	cmd.AddCommand(list, put, newPlansApplyCommand(app))
	return cmd
}

func quota(p registry.Plan) string {
	if p.QuotaPeriod == "" {
		return "-"
	}
	return fmt.Sprintf("%d/%s", p.QuotaLimit, strings.ToLower(p.QuotaPeriod))
}

func newBindingsCommand(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "bindings", Short: "Map JWT clients (issuer + subject) to customers"}
	var b registry.ClientBinding
	var scopes []string
	create := &cobra.Command{
		Use: "create --env ENV --issuer URL --subject SUB --customer ID", Short: "Bind a JWT client to a customer",
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := app.requireEnv(); err != nil {
				return err
			}
			svc, err := app.Service(cmd.Context())
			if err != nil {
				return err
			}
			b.Env, b.Scopes = app.Env, scopes
			saved, err := svc.PutBinding(cmd.Context(), b, app.Actor)
			if err != nil {
				return err
			}
			return app.printBinding(saved)
		},
	}
	create.Flags().StringVar(&b.Issuer, "issuer", "", "token issuer (iss), exactly as in tokens (required)")
	create.Flags().StringVar(&b.Subject, "subject", "", "token subject or client id (required)")
	create.Flags().StringVar(&b.CustomerID, "customer", "", "customer id (required)")
	create.Flags().StringSliceVar(&scopes, "scopes", nil, "cap the client's scopes (comma-separated)")
	for _, f := range []string{"issuer", "subject", "customer"} {
		_ = create.MarkFlagRequired(f)
	}
	list := &cobra.Command{
		Use: "list CUSTOMER", Short: "List a customer's JWT clients", Args: exactArgs(1, "CUSTOMER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := app.Store(cmd.Context())
			if err != nil {
				return err
			}
			bs, err := store.ListBindings(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printList(app, bs, func(w *tabwriter.Writer) { bindingRows(w, bs) })
		},
	}
	var del registry.ClientBinding
	deleteCmd := &cobra.Command{
		Use: "delete --env ENV --issuer URL --subject SUB", Short: "Remove a JWT client binding", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := app.requireEnv(); err != nil {
				return err
			}
			store, err := app.Store(cmd.Context())
			if err != nil {
				return err
			}
			if err := store.DeleteBinding(cmd.Context(), app.Env, del.Issuer, del.Subject, app.Actor); err != nil {
				return err
			}
			fmt.Fprintln(app.Out, "deleted")
			return nil
		},
	}
	deleteCmd.Flags().StringVar(&del.Issuer, "issuer", "", "token issuer (required)")
	deleteCmd.Flags().StringVar(&del.Subject, "subject", "", "token subject or client id (required)")
	_ = deleteCmd.MarkFlagRequired("issuer")
	_ = deleteCmd.MarkFlagRequired("subject")
	cmd.AddCommand(create, list, deleteCmd)
	return cmd
}

func (a *App) printBinding(b registry.ClientBinding) error {
	return a.print(b, func(w *tabwriter.Writer) { bindingRows(w, []registry.ClientBinding{b}) })
}

func bindingRows(w *tabwriter.Writer, bs []registry.ClientBinding) {
	fmt.Fprintln(w, "ENV\tISSUER\tSUBJECT\tCUSTOMER\tSCOPES")
	for _, b := range bs {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", b.Env, b.Issuer, b.Subject, b.CustomerID, strings.Join(b.Scopes, " "))
	}
}

func newAuditCommand(app *App) *cobra.Command {
	var limit int32
	var next string
	cmd := &cobra.Command{
		Use:   "audit SUBJECT",
		Short: "Show the audit trail of a customer (or env:<env>), newest first; an unknown customer is not found (exit 3)",
		Args:  exactArgs(1, "SUBJECT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := app.Store(cmd.Context())
			if err != nil {
				return err
			}
			if err := auditSubjectExists(cmd.Context(), store, args[0]); err != nil {
				return err
			}
			p, err := store.ListAudit(cmd.Context(), args[0], next, limit)
			if err != nil {
				return err
			}
			return printPage(app, p, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "AT\tACTOR\tACTION\tTARGET\tDETAILS")
				for _, e := range p.Items {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", e.At.Format(time.RFC3339), e.Actor, e.Action, e.Target, details(e.Details))
				}
			})
		},
	}
	pageFlags(cmd, &limit, &next)
	return cmd
}

func details(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}
