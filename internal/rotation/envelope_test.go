package rotation_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stagehand-dev/stagehand/internal/rotation"
	"github.com/stagehand-dev/stagehand/internal/rotation/kmslocal"
)

func TestEnvelope(t *testing.T) {
	ctx := context.Background()
	k := kmslocal.New("alias/test")
	env := rotation.NewEnvelope(k, "alias/test")
	encCtx := rotation.PickupContext("dev", "c1", "k1")
	sealed, err := env.Seal(ctx, []byte("sh_dev_secret"), encCtx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := env.Open(ctx, sealed, encCtx)
	if err != nil || string(got) != "sh_dev_secret" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	tamper := func(b []byte) []byte { c := append([]byte(nil), b...); c[len(c)-1] ^= 1; return c }
	tests := []struct {
		name   string
		sealed rotation.Sealed
		encCtx map[string]string
	}{
		{"another customer's context", sealed, rotation.PickupContext("dev", "c2", "k1")},
		{"another key's context", sealed, rotation.PickupContext("dev", "c1", "k2")},
		{"tampered ciphertext", rotation.Sealed{EncryptedDataKey: sealed.EncryptedDataKey, Nonce: sealed.Nonce, Ciphertext: tamper(sealed.Ciphertext)}, encCtx},
		{"tampered data key", rotation.Sealed{EncryptedDataKey: tamper(sealed.EncryptedDataKey), Nonce: sealed.Nonce, Ciphertext: sealed.Ciphertext}, encCtx},
		{"short nonce", rotation.Sealed{EncryptedDataKey: sealed.EncryptedDataKey, Nonce: sealed.Nonce[:4], Ciphertext: sealed.Ciphertext}, encCtx},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if pt, err := env.Open(ctx, tc.sealed, tc.encCtx); !errors.Is(err, rotation.ErrOpen) || pt != nil {
				t.Errorf("Open = %q, %v; want ErrOpen", pt, err)
			}
		})
	}
	if string(sealed.Ciphertext) == "sh_dev_secret" || len(sealed.EncryptedDataKey) == 0 {
		t.Error("the sealed form holds the plaintext or no data key")
	}
}
