// Package kmslocal is a local stand-in for AWS KMS's GenerateDataKey and
// Decrypt, for tests and local runs: data keys are wrapped with AES-256-GCM
// under a master key held in memory, and the encryption context must match
// on Decrypt exactly as KMS requires
// (https://docs.aws.amazon.com/kms/latest/developerguide/encrypt_context.html).
// It is not a security boundary.
package kmslocal

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// KMS wraps data keys under one in-memory master key named KeyID.
type KMS struct {
	KeyID    string
	master   cipher.AEAD
	Generate atomic.Int64 // GenerateDataKey calls
	Decrypts atomic.Int64 // Decrypt calls
}

// New returns a stand-in for the KMS key keyID with a random master key.
func New(keyID string) *KMS {
	mk := make([]byte, 32)
	_, _ = rand.Read(mk)
	block, _ := aes.NewCipher(mk)
	gcm, _ := cipher.NewGCM(block)
	return &KMS{KeyID: keyID, master: gcm}
}

func canon(c map[string]string) []byte {
	names := make([]string, 0, len(c))
	for k := range c {
		names = append(names, k)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, k := range names {
		b.WriteString(k + "=" + c[k] + "\n")
	}
	return []byte(b.String())
}

// GenerateDataKey returns a fresh 256-bit data key and its wrapping.
func (k *KMS) GenerateDataKey(_ context.Context, in *kms.GenerateDataKeyInput, _ ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error) {
	k.Generate.Add(1)
	if aws.ToString(in.KeyId) != k.KeyID {
		return nil, &types.NotFoundException{Message: aws.String("key " + aws.ToString(in.KeyId) + " not found")}
	}
	if in.KeySpec != types.DataKeySpecAes256 {
		return nil, &types.InvalidKeyUsageException{Message: aws.String("only AES_256 is supported")}
	}
	dk := make([]byte, 32)
	_, _ = rand.Read(dk)
	nonce := make([]byte, k.master.NonceSize())
	_, _ = rand.Read(nonce)
	blob := append(nonce, k.master.Seal(nil, nonce, dk, canon(in.EncryptionContext))...)
	return &kms.GenerateDataKeyOutput{KeyId: aws.String(k.KeyID), Plaintext: dk, CiphertextBlob: blob}, nil
}

// Decrypt unwraps a data key; a different encryption context fails as
// KMS's InvalidCiphertextException.
func (k *KMS) Decrypt(_ context.Context, in *kms.DecryptInput, _ ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	k.Decrypts.Add(1)
	if id := aws.ToString(in.KeyId); id != "" && id != k.KeyID {
		return nil, &types.IncorrectKeyException{Message: aws.String("wrong key")}
	}
	ns := k.master.NonceSize()
	if len(in.CiphertextBlob) < ns {
		return nil, &types.InvalidCiphertextException{Message: aws.String("short ciphertext")}
	}
	dk, err := k.master.Open(nil, in.CiphertextBlob[:ns], in.CiphertextBlob[ns:], canon(in.EncryptionContext))
	if err != nil {
		return nil, &types.InvalidCiphertextException{Message: aws.String(fmt.Sprint(errors.New("ciphertext does not decrypt")))}
	}
	return &kms.DecryptOutput{KeyId: aws.String(k.KeyID), Plaintext: bytes.Clone(dk)}, nil
}
