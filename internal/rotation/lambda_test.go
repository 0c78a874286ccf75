package rotation_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/rotation"
	"github.com/stagehand-dev/stagehand/internal/rotation/kmslocal"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
	"github.com/stagehand-dev/stagehand/test/eventbus"
)

// kmsServer answers KMS's JSON protocol (awsJson1.1, X-Amz-Target
// TrentService.<Operation>) for GenerateDataKey and Decrypt with kmslocal,
// and records what it was asked, so a test can see the real SDK client at
// work. https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html
type kmsServer struct {
	k       *kmslocal.KMS
	mu      sync.Mutex
	targets []string
	ctxs    []map[string]string
}

func (s *kmsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	s.mu.Lock()
	s.targets = append(s.targets, target)
	s.mu.Unlock()
	var out any
	var err error
	switch target {
	case "TrentService.GenerateDataKey":
		var in struct {
			KeyId             string
			KeySpec           string
			EncryptionContext map[string]string
		}
		if err = json.NewDecoder(r.Body).Decode(&in); err == nil {
			s.mu.Lock()
			s.ctxs = append(s.ctxs, in.EncryptionContext)
			s.mu.Unlock()
			out, err = s.k.GenerateDataKey(r.Context(), &kms.GenerateDataKeyInput{KeyId: aws.String(in.KeyId), KeySpec: kmstypes.DataKeySpec(in.KeySpec), EncryptionContext: in.EncryptionContext})
		}
	default:
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"UnsupportedOperationException"}`))
		return
	}
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"ValidationException","message":"` + err.Error() + `"}`))
		return
	}
	o := out.(*kms.GenerateDataKeyOutput)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(map[string]any{"KeyId": o.KeyId, "CiphertextBlob": o.CiphertextBlob, "Plaintext": o.Plaintext})
}

// TestLambdaWiresRealClients builds the handler exactly as the Lambda main
// does, from environment variables, with every endpoint on loopback: the
// registry on DynamoDB Local, KMS on a recording server, EventBridge on the
// bus emulator. A due auto-rotation key must come out rotated, its secret
// sealed through the real KMS client's GenerateDataKey.
func TestLambdaWiresRealClients(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, registry.RotationAuto, 0)
	f.set(t0.Add(90 * day))
	kmsSrv := &kmsServer{k: kmslocal.New("alias/stagehand-rotation")}
	kmsHTTP := httptest.NewServer(kmsSrv)
	defer kmsHTTP.Close()
	bus := eventbus.New()
	busURL := bus.Start(t)
	envv := map[string]string{
		"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": f.store.Table(), "STAGEHAND_ROTATION_KMS_KEY": "alias/stagehand-rotation",
		"STAGEHAND_DYNAMODB_ENDPOINT": ddbtest.Endpoint(t), "STAGEHAND_KMS_ENDPOINT": kmsHTTP.URL,
		"STAGEHAND_EVENTBRIDGE_ENDPOINT": busURL,
	}
	h, err := rotation.NewHandlerFromEnv(ctx, func(k string) string { return envv[k] }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// The job decides on the fixture's clock, so the test does not depend
	// on today's date.
	rotation.WithClock(f.clk)(h.Job)
	rep, err := h.HandleScheduled(ctx, events.CloudWatchEvent{})
	if err != nil {
		t.Fatalf("run: %v (%+v)", err, rep)
	}
	if rep.Count(rotation.ActionRotate, rotation.ResultDone) != 1 {
		t.Fatalf("report %+v, want the key rotated", rep)
	}
	kmsSrv.mu.Lock()
	defer kmsSrv.mu.Unlock()
	if len(kmsSrv.targets) != 1 || kmsSrv.targets[0] != "TrentService.GenerateDataKey" || kmsSrv.ctxs[0]["keyId"] == "" {
		t.Errorf("KMS saw %v with contexts %v; want one GenerateDataKey per rotation", kmsSrv.targets, kmsSrv.ctxs)
	}
	bus.Wait()
	n := 0
	for _, e := range bus.Put() {
		if e.Source == rotation.Source && e.DetailType == rotation.DetailKeyRotated {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d Key Rotated events on the bus, want 1", n)
	}
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		ok   bool
	}{
		{"complete", map[string]string{"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": "t", "STAGEHAND_ROTATION_KMS_KEY": "alias/k"}, true},
		{"no kms key", map[string]string{"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": "t"}, false},
		{"bad env", map[string]string{"STAGEHAND_ENV": "Dev!", "STAGEHAND_TABLE": "t", "STAGEHAND_ROTATION_KMS_KEY": "k"}, false},
		{"bad margin", map[string]string{"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": "t", "STAGEHAND_ROTATION_KMS_KEY": "k", "STAGEHAND_SAFETY_MARGIN": "1h"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rotation.ConfigFromEnv(func(k string) string { return tc.env[k] })
			if (err == nil) != tc.ok {
				t.Errorf("err = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
