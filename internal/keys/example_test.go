package keys_test

import (
	"bytes"
	"fmt"

	"github.com/stagehand-dev/stagehand/internal/keys"
)

// The life of a key: generated once (the plaintext goes to the customer, the
// hash and id to the registry), then checked by the authorizer on each
// request: offline validation, then one GetItem by id, then a constant-time
// comparison of the full hash.
func Example() {
	// Production code calls keys.New; a fixed reader makes the output stable.
	gen := keys.NewGenerator(keys.WithRand(bytes.NewReader(bytes.Repeat([]byte{7, 200}, 20))))
	secret, err := gen.New("prod")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("show once:", secret.Plaintext)
	fmt.Println("logs show:", secret)
	fmt.Println("store:    ", secret.ID, secret.Hash)

	// In the authorizer, for the key the client sent:
	presented := secret.Plaintext
	if err := keys.ValidateFor(presented, "prod"); err != nil {
		fmt.Println("401:", err)
		return
	}
	h := keys.HashKey(presented)
	stored, _ := keys.ParseHash(secret.Hash.String()) // the item found by h.ID()
	fmt.Println("same id:", h.ID() == secret.ID, "hash matches:", h.Equal(stored))

	_, err = keys.Validate("sh_prod_" + "mistyped")
	fmt.Println(err)
	// Output:
	// show once: sh_prod_7E7E7E7E7E7E7E7E7E7E7E7E7E7E7E7E1vOW6f
	// logs show: sh_prod_7E7E…
	// store:     key_gs3trdau6xw2ncb7 34b7388c14f5eda6883f0e01f1fef63598ff6c7286e90f7624b9f98186a134cc
	// same id: true hash matches: true
	// malformed API key: wrong length
}
