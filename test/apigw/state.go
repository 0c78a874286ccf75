package apigw

import (
	"maps"
	"slices"
	"time"
)

// state is the whole emulated account. Every map is keyed by id; the sorted
// id slices back pagination so that a page costs O(log n + limit).
type state struct {
	apis      map[string]*restAPI
	apiIDs    sortedIDs
	plans     map[string]*usagePlan
	planIDs   sortedIDs
	keys      map[string]*apiKey
	keyIDs    sortedIDs
	keyValues map[string]string // API key value -> key id
	domains   map[string]*domainName
	domainIDs sortedIDs
	usage     map[usageKey]int64
}

func newState() *state {
	return &state{
		apis:      map[string]*restAPI{},
		plans:     map[string]*usagePlan{},
		keys:      map[string]*apiKey{},
		keyValues: map[string]string{},
		domains:   map[string]*domainName{},
		usage:     map[usageKey]int64{},
	}
}

type restAPI struct {
	id            string
	name          string
	description   string
	created       time.Time
	apiKeySource  string
	endpointTypes []string
	tags          map[string]string
	deployments   map[string]*deployment
	stages        map[string]*stage
}

type deployment struct {
	id          string
	description string
	created     time.Time
}

type stage struct {
	name           string
	deploymentID   string
	description    string
	created        time.Time
	updated        time.Time
	variables      map[string]string
	methodSettings map[string]methodSetting
	tags           map[string]string
}

type methodSetting struct {
	rate  *float64
	burst *int32
}

// throttle is a usage plan's or a method's rate and burst; either may be
// unset.
type throttle struct {
	rate  *float64
	burst *int32
}

type quota struct {
	limit  int32
	offset int32
	period string
}

// planStage is one apiId:stage entry of a usage plan with its method-level
// throttles keyed "{resourcePath}/{httpMethod}" (for example "/pets/GET").
type planStage struct {
	apiID    string
	stage    string
	throttle map[string]throttle
}

func (s planStage) ref() string { return s.apiID + ":" + s.stage }

type usagePlan struct {
	id          string
	name        string
	description string
	stages      []planStage // in the order they were added
	throttle    *throttle
	quota       *quota
	tags        map[string]string
	keyIDs      sortedIDs
}

// clone returns a copy deep enough that a multi-operation patch can be applied
// to the copy and committed only if every operation and check succeeds.
func (p *usagePlan) clone() *usagePlan {
	c := *p
	c.stages = make([]planStage, len(p.stages))
	for i, s := range p.stages {
		c.stages[i] = planStage{apiID: s.apiID, stage: s.stage, throttle: maps.Clone(s.throttle)}
	}
	if p.throttle != nil {
		t := *p.throttle
		c.throttle = &t
	}
	if p.quota != nil {
		q := *p.quota
		c.quota = &q
	}
	c.tags = maps.Clone(p.tags)
	// keyIDs is shared: a patch never changes the plan's keys, and only one
	// of the two copies survives.
	return &c
}

func (p *usagePlan) stageIndex(apiID, stageName string) int {
	return slices.IndexFunc(p.stages, func(s planStage) bool { return s.apiID == apiID && s.stage == stageName })
}

type apiKey struct {
	id          string
	name        string
	description string
	value       string
	customerID  string
	enabled     bool
	created     time.Time
	updated     time.Time
	tags        map[string]string
	planIDs     map[string]struct{}
}

type domainName struct {
	name         string
	regional     bool
	certARN      string
	regionalName string
	edgeName     string
	securityPol  string
	created      time.Time
	tags         map[string]string
	mappings     map[string]*basePathMapping
	mappingPaths sortedIDs
}

type basePathMapping struct {
	basePath  string
	restAPIID string
	stage     string
}

type usageKey struct {
	planID string
	keyID  string
	day    string // 2006-01-02, UTC
}

// sortedIDs is an ascending slice of unique strings.
type sortedIDs []string

func (s *sortedIDs) insert(id string) {
	i, found := slices.BinarySearch(*s, id)
	if !found {
		*s = slices.Insert(*s, i, id)
	}
}

func (s *sortedIDs) remove(id string) {
	if i, found := slices.BinarySearch(*s, id); found {
		*s = slices.Delete(*s, i, i+1)
	}
}

func (s sortedIDs) has(id string) bool {
	_, found := slices.BinarySearch(s, id)
	return found
}

// after returns the index of the first id strictly greater than last.
func (s sortedIDs) after(last string) int {
	i, found := slices.BinarySearch(s, last)
	if found {
		return i + 1
	}
	return i
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

const valueAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newID returns a random lowercase alphanumeric id of length n that taken
// does not report as used. Callers hold e.mu.
func (e *Emulator) newID(n int, taken func(string) bool) string {
	for {
		b := make([]byte, n)
		for i := range b {
			b[i] = idAlphabet[e.rng.IntN(len(idAlphabet))]
		}
		if id := string(b); !taken(id) {
			return id
		}
	}
}

// newKeyValue returns a generated 40-character API key value. Callers hold
// e.mu.
func (e *Emulator) newKeyValue() string {
	for {
		b := make([]byte, 40)
		for i := range b {
			b[i] = valueAlphabet[e.rng.IntN(len(valueAlphabet))]
		}
		if _, used := e.st.keyValues[string(b)]; !used {
			return string(b)
		}
	}
}
