package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
)

func TestRefusesNonLoopbackAddresses(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:4567", "192.0.2.1:4567", ":4567", "nonsense"} {
		if err := run([]string{"-addr", addr}); err == nil {
			t.Errorf("-addr %s: no error", addr)
		}
	}
}

// The command serves the emulator: the SDK creates and reads a usage plan.
func TestServesTheEmulator(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	errc := make(chan error, 1)
	go func() { errc <- run([]string{"-addr", addr}) }()
	gw := apigateway.New(apigateway.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("http://" + addr),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var plan *apigateway.CreateUsagePlanOutput
	for plan == nil {
		select {
		case err := <-errc:
			t.Fatalf("apigw stopped: %v", err)
		default:
		}
		plan, err = gw.CreateUsagePlan(ctx, &apigateway.CreateUsagePlanInput{Name: aws.String("basic")})
		if err != nil {
			if ctx.Err() != nil || !strings.Contains(err.Error(), "connection refused") {
				t.Fatalf("create usage plan: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	got, err := gw.GetUsagePlan(ctx, &apigateway.GetUsagePlanInput{UsagePlanId: plan.Id})
	if err != nil || aws.ToString(got.Name) != "basic" {
		t.Fatalf("get usage plan: %v %+v", err, got)
	}
}
