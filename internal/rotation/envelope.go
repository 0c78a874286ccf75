package rotation

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// KMS is the part of the KMS client envelope encryption uses. The Lambda
// wires *kms.Client; tests wire kmslocal.KMS, a stand-in with the same
// methods.
type KMS interface {
	GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, optFns ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

var _ KMS = (*kms.Client)(nil)

// Sealed is a secret sealed under a fresh data key: the data key encrypted
// by KMS, and the AES-256-GCM nonce and ciphertext.
type Sealed struct {
	EncryptedDataKey, Nonce, Ciphertext []byte
}

// Envelope seals and opens small secrets with KMS envelope encryption: KMS
// GenerateDataKey (AES_256) per secret, AES-GCM locally, the plaintext data
// key dropped at once. The encryption context (bound into both the KMS call
// and the GCM additional data) ties a sealed secret to its key id and
// customer, so a ciphertext moved to another item does not open.
type Envelope struct {
	kms   KMS
	keyID string
}

// NewEnvelope returns an Envelope under the KMS key keyID (id, ARN or alias).
func NewEnvelope(k KMS, keyID string) *Envelope { return &Envelope{kms: k, keyID: keyID} }

// ErrOpen: a sealed secret did not open (wrong context, tampered, or KMS refused).
var ErrOpen = errors.New("sealed secret does not open")

// Seal encrypts plaintext bound to encCtx.
func (e *Envelope) Seal(ctx context.Context, plaintext []byte, encCtx map[string]string) (Sealed, error) {
	out, err := e.kms.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId: aws.String(e.keyID), KeySpec: types.DataKeySpecAes256, EncryptionContext: encCtx,
	})
	if err != nil {
		return Sealed{}, fmt.Errorf("generate data key: %w", err)
	}
	defer clear(out.Plaintext)
	gcm, err := newGCM(out.Plaintext)
	if err != nil {
		return Sealed{}, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return Sealed{}, fmt.Errorf("nonce: %w", err)
	}
	return Sealed{
		EncryptedDataKey: out.CiphertextBlob, Nonce: nonce,
		Ciphertext: gcm.Seal(nil, nonce, plaintext, aad(encCtx)),
	}, nil
}

// Open decrypts a Sealed secret bound to encCtx.
func (e *Envelope) Open(ctx context.Context, s Sealed, encCtx map[string]string) ([]byte, error) {
	out, err := e.kms.Decrypt(ctx, &kms.DecryptInput{
		KeyId: aws.String(e.keyID), CiphertextBlob: s.EncryptedDataKey, EncryptionContext: encCtx,
	})
	if err != nil {
		return nil, fmt.Errorf("decrypt data key: %w: %w", ErrOpen, err)
	}
	defer clear(out.Plaintext)
	gcm, err := newGCM(out.Plaintext)
	if err != nil {
		return nil, err
	}
	if len(s.Nonce) != gcm.NonceSize() {
		return nil, fmt.Errorf("nonce length %d: %w", len(s.Nonce), ErrOpen)
	}
	pt, err := gcm.Open(nil, s.Nonce, s.Ciphertext, aad(encCtx))
	if err != nil {
		return nil, fmt.Errorf("open: %w", ErrOpen)
	}
	return pt, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("data key is %d bytes, want 32: %w", len(key), ErrOpen)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	return cipher.NewGCM(block)
}

// aad is the encryption context as GCM additional data, in a fixed order.
func aad(encCtx map[string]string) []byte {
	return []byte("customerId=" + encCtx["customerId"] + "\nkeyId=" + encCtx["keyId"] + "\nenv=" + encCtx["env"])
}
