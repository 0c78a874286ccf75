// Package oidcissuer is a local OpenID Connect provider for tests and
// `make dev`: zitadel/oidc's OpenID Provider (pkg/op, the authorization
// code flow with PKCE, discovery, JWKS, signed ID tokens) with its example
// in-memory storage and username/password login page, over loopback. The
// ID token carries a "groups" claim, as Cognito's cognito:groups or an
// enterprise issuer's groups claim would, so the console's operator rule is
// exercised end to end.
package oidcissuer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// GroupsClaim is the ID token claim listing a user's groups.
const GroupsClaim = "groups"

// User is a demo account.
type User struct {
	ID, Username, Password, Name string
	Groups                       []string
}

// Client is a registered relying party (a confidential web client).
type Client struct {
	ID, Secret   string
	RedirectURIs []string
}

// Issuer is a running provider.
type Issuer struct {
	URL string
	srv *http.Server
	ln  net.Listener
	wg  sync.WaitGroup
}

// Start listens on addr ("127.0.0.1:0" for any free port) and serves a
// provider whose issuer URL is http://<addr>.
func Start(addr string, users []User, clients []Client) (*Issuer, error) {
	if len(users) == 0 || len(clients) == 0 {
		return nil, errors.New("oidcissuer: at least one user and one client")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("oidcissuer: listen %s: %w", addr, err)
	}
	url := "http://" + ln.Addr().String()
	us := userStore{byID: map[string]*storage.User{}, byName: map[string]*storage.User{}}
	groups := map[string][]string{}
	for _, u := range users {
		su := &storage.User{ID: u.ID, Username: u.Username, Password: u.Password, FirstName: u.Name, Email: u.Username, EmailVerified: true}
		us.byID[u.ID], us.byName[u.Username] = su, su
		groups[u.ID] = u.Groups
	}
	cs := map[string]*storage.Client{}
	for _, c := range clients {
		cs[c.ID] = storage.WebClient(c.ID, c.Secret, c.RedirectURIs...)
	}
	st := &groupStorage{Storage: storage.NewStorageWithClients(us, cs), groups: groups}
	i := &Issuer{URL: url, ln: ln, srv: &http.Server{Handler: exampleop.SetupServer(url, st, nil, false), ReadHeaderTimeout: 5 * time.Second}}
	i.wg.Add(1)
	go func() {
		defer i.wg.Done()
		_ = i.srv.Serve(ln)
	}()
	return i, nil
}

// Close stops the provider.
func (i *Issuer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := i.srv.Shutdown(ctx)
	i.wg.Wait()
	return err
}

type userStore struct{ byID, byName map[string]*storage.User }

func (u userStore) GetUserByID(id string) *storage.User         { return u.byID[id] }
func (u userStore) GetUserByUsername(name string) *storage.User { return u.byName[name] }
func (u userStore) ExampleClientID() string                     { return "service" }

// groupStorage adds the groups claim to ID tokens and userinfo.
type groupStorage struct {
	*storage.Storage
	groups map[string][]string
}

// SetUserinfoFromRequest fills the ID token's user claims (op calls it for
// every ID token), adding groups.
func (g *groupStorage) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, token op.IDTokenRequest, scopes []string) error {
	if err := g.Storage.SetUserinfoFromRequest(ctx, ui, token, scopes); err != nil {
		return err
	}
	if gs := g.groups[token.GetSubject()]; len(gs) > 0 {
		ui.AppendClaims(GroupsClaim, gs)
	}
	return nil
}

// SetUserinfoFromToken fills the userinfo endpoint's answer, adding groups.
func (g *groupStorage) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, subject, origin string) error {
	if err := g.Storage.SetUserinfoFromToken(ctx, ui, tokenID, subject, origin); err != nil {
		return err
	}
	if gs := g.groups[ui.Subject]; len(gs) > 0 {
		ui.AppendClaims(GroupsClaim, gs)
	}
	return nil
}
