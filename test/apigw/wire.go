package apigw

import (
	"maps"
	"slices"
)

// Wire shapes, with the JSON member names the SDK's REST-JSON
// deserializers read (see deserializers.go of service/apigateway).

type wireThrottle struct {
	BurstLimit *int32   `json:"burstLimit,omitempty"`
	RateLimit  *float64 `json:"rateLimit,omitempty"`
}

type wireQuota struct {
	Limit  *int32  `json:"limit,omitempty"`
	Offset *int32  `json:"offset,omitempty"`
	Period *string `json:"period,omitempty"`
}

type wireAPIStage struct {
	APIID    string                  `json:"apiId"`
	Stage    string                  `json:"stage"`
	Throttle map[string]wireThrottle `json:"throttle,omitempty"`
}

type wireUsagePlan struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	APIStages   []wireAPIStage    `json:"apiStages"`
	Throttle    *wireThrottle     `json:"throttle,omitempty"`
	Quota       *wireQuota        `json:"quota,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
}

type wireAPIKey struct {
	ID              string            `json:"id"`
	Name            string            `json:"name,omitempty"`
	Description     string            `json:"description,omitempty"`
	Value           string            `json:"value,omitempty"`
	CustomerID      string            `json:"customerId,omitempty"`
	Enabled         bool              `json:"enabled"`
	CreatedDate     int64             `json:"createdDate"`
	LastUpdatedDate int64             `json:"lastUpdatedDate"`
	StageKeys       []string          `json:"stageKeys"`
	Tags            map[string]string `json:"tags,omitempty"`
}

type wireUsagePlanKey struct {
	ID    string `json:"id"`
	Type  string `json:"type"`
	Value string `json:"value"`
	Name  string `json:"name,omitempty"`
}

type wireEndpointConfiguration struct {
	Types []string `json:"types,omitempty"`
}

type wireRestAPI struct {
	ID                    string                     `json:"id"`
	Name                  string                     `json:"name"`
	Description           string                     `json:"description,omitempty"`
	CreatedDate           int64                      `json:"createdDate"`
	APIKeySource          string                     `json:"apiKeySource"`
	EndpointConfiguration *wireEndpointConfiguration `json:"endpointConfiguration,omitempty"`
	RootResourceID        string                     `json:"rootResourceId"`
	Tags                  map[string]string          `json:"tags,omitempty"`
}

type wireDeployment struct {
	ID          string `json:"id"`
	Description string `json:"description,omitempty"`
	CreatedDate int64  `json:"createdDate"`
}

type wireMethodSetting struct {
	ThrottlingRateLimit  *float64 `json:"throttlingRateLimit,omitempty"`
	ThrottlingBurstLimit *int32   `json:"throttlingBurstLimit,omitempty"`
}

type wireStage struct {
	StageName       string                       `json:"stageName"`
	DeploymentID    string                       `json:"deploymentId"`
	Description     string                       `json:"description,omitempty"`
	CreatedDate     int64                        `json:"createdDate"`
	LastUpdatedDate int64                        `json:"lastUpdatedDate"`
	Variables       map[string]string            `json:"variables,omitempty"`
	MethodSettings  map[string]wireMethodSetting `json:"methodSettings"`
	Tags            map[string]string            `json:"tags,omitempty"`
}

type wireDomainName struct {
	DomainName               string                     `json:"domainName"`
	CertificateARN           string                     `json:"certificateArn,omitempty"`
	RegionalCertificateARN   string                     `json:"regionalCertificateArn,omitempty"`
	RegionalDomainName       string                     `json:"regionalDomainName,omitempty"`
	RegionalHostedZoneID     string                     `json:"regionalHostedZoneId,omitempty"`
	DistributionDomainName   string                     `json:"distributionDomainName,omitempty"`
	DistributionHostedZoneID string                     `json:"distributionHostedZoneId,omitempty"`
	DomainNameStatus         string                     `json:"domainNameStatus"`
	EndpointConfiguration    *wireEndpointConfiguration `json:"endpointConfiguration"`
	SecurityPolicy           string                     `json:"securityPolicy"`
	Tags                     map[string]string          `json:"tags,omitempty"`
}

type wireBasePathMapping struct {
	BasePath  string `json:"basePath"`
	RestAPIID string `json:"restApiId"`
	Stage     string `json:"stage,omitempty"`
}

// patchOperation is one JSON-patch operation as API Gateway takes it.
type patchOperation struct {
	Op    string  `json:"op"`
	Path  string  `json:"path"`
	Value *string `json:"value"`
	From  *string `json:"from"`
}

type patchRequest struct {
	PatchOperations []patchOperation `json:"patchOperations"`
}

func (p patchOperation) value() string {
	if p.Value == nil {
		return ""
	}
	return *p.Value
}

func (t throttle) wire() wireThrottle {
	return wireThrottle{BurstLimit: t.burst, RateLimit: t.rate}
}

func (p *usagePlan) wire() wireUsagePlan {
	out := wireUsagePlan{ID: p.id, Name: p.name, Description: p.description, APIStages: []wireAPIStage{}, Tags: maps.Clone(p.tags)}
	for _, s := range p.stages {
		ws := wireAPIStage{APIID: s.apiID, Stage: s.stage}
		if len(s.throttle) > 0 {
			ws.Throttle = make(map[string]wireThrottle, len(s.throttle))
			for k, t := range s.throttle {
				ws.Throttle[k] = t.wire()
			}
		}
		out.APIStages = append(out.APIStages, ws)
	}
	if p.throttle != nil {
		t := p.throttle.wire()
		out.Throttle = &t
	}
	if p.quota != nil {
		q := *p.quota
		out.Quota = &wireQuota{Limit: &q.limit, Offset: &q.offset, Period: &q.period}
	}
	return out
}

func (k *apiKey) wire(includeValue bool) wireAPIKey {
	out := wireAPIKey{
		ID: k.id, Name: k.name, Description: k.description, CustomerID: k.customerID, Enabled: k.enabled,
		CreatedDate: epoch(k.created), LastUpdatedDate: epoch(k.updated), StageKeys: []string{}, Tags: maps.Clone(k.tags),
	}
	if includeValue {
		out.Value = k.value
	}
	return out
}

func (k *apiKey) wirePlanKey() wireUsagePlanKey {
	return wireUsagePlanKey{ID: k.id, Type: "API_KEY", Value: k.value, Name: k.name}
}

func (a *restAPI) wire() wireRestAPI {
	return wireRestAPI{
		ID: a.id, Name: a.name, Description: a.description, CreatedDate: epoch(a.created), APIKeySource: a.apiKeySource,
		EndpointConfiguration: &wireEndpointConfiguration{Types: slices.Clone(a.endpointTypes)},
		RootResourceID:        "root" + a.id[:6], Tags: maps.Clone(a.tags),
	}
}

func (s *stage) wire() wireStage {
	out := wireStage{
		StageName: s.name, DeploymentID: s.deploymentID, Description: s.description,
		CreatedDate: epoch(s.created), LastUpdatedDate: epoch(s.updated),
		Variables: maps.Clone(s.variables), MethodSettings: map[string]wireMethodSetting{}, Tags: maps.Clone(s.tags),
	}
	for k, m := range s.methodSettings {
		out.MethodSettings[k] = wireMethodSetting{ThrottlingRateLimit: m.rate, ThrottlingBurstLimit: m.burst}
	}
	return out
}

func (d *domainName) wire() wireDomainName {
	out := wireDomainName{
		DomainName: d.name, DomainNameStatus: "AVAILABLE", SecurityPolicy: d.securityPol, Tags: maps.Clone(d.tags),
	}
	if d.regional {
		out.RegionalCertificateARN = d.certARN
		out.RegionalDomainName = d.regionalName
		out.RegionalHostedZoneID = regionalHostedZoneID
		out.EndpointConfiguration = &wireEndpointConfiguration{Types: []string{"REGIONAL"}}
	} else {
		out.CertificateARN = d.certARN
		out.DistributionDomainName = d.edgeName
		out.DistributionHostedZoneID = cloudFrontHostedZoneID
		out.EndpointConfiguration = &wireEndpointConfiguration{Types: []string{"EDGE"}}
	}
	return out
}

func (m *basePathMapping) wire() wireBasePathMapping {
	return wireBasePathMapping{BasePath: m.basePath, RestAPIID: m.restAPIID, Stage: m.stage}
}

// Hosted zone ids API Gateway reports: the regional one of us-east-1 and
// CloudFront's (for edge-optimized names).
const (
	regionalHostedZoneID   = "Z1UJRXOUMOOFQ8"
	cloudFrontHostedZoneID = "Z2FDTNDATAQYW2"
)
