package auth

// WithContextReserve makes the per-response size check leave n bytes of
// API Gateway's 8 KiB limit for context entries a wrapper of Handle adds
// after the decision (lambdas/authorizer adds the origin-verify value, see
// internal/originverify). A negative n counts as 0.
func WithContextReserve(n int) Option {
	return func(a *Authorizer) { a.reserve = max(n, 0) }
}
