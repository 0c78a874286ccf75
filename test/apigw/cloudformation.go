package apigw

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
)

// ---- CloudFormation's handling of AWS::ApiGateway::UsagePlan ----
//
// A CloudFormation stack that declares usage plans owns their whole
// configuration. The AWS::ApiGateway::UsagePlan reference documents
// ApiStages as "The associated API stages of a usage plan", update
// requires "No interruption": an update makes the plan's stages the
// template's list, through UpdateUsagePlan patch operations ("add" and
// "remove" on /apiStages, "replace" on /throttle/*, /quota/*, /description,
// /name; API Gateway API Reference, UpdateUsagePlan and PatchOperation).
// A plan that declares no ApiStages therefore loses every stage attached
// outside the template on any update of the resource (a changed quota, a
// new tag, a stack-wide tag: aws-cdk#32544). Keys (AWS::ApiGateway::
// UsagePlanKey resources) are not part of the plan's properties and are
// left alone. Stack tags propagate to every taggable resource, so changing
// them updates every plan.
//
// CloudFormationStack models exactly that for the usage plans of one
// stack, on this emulator's state: Deploy creates declared plans, updates
// those whose properties (or the stack's tags) changed, and deletes those
// no longer declared unless their DeletionPolicy is Retain.

// UsagePlanResource is the Properties of an AWS::ApiGateway::UsagePlan
// resource, plus its DeletionPolicy.
type UsagePlanResource struct {
	UsagePlanName string
	Description   string
	ApiStages     []TemplateStage
	Throttle      *Throttle
	Quota         *Quota
	Tags          map[string]string
	Retain        bool // DeletionPolicy: Retain
}

// TemplateStage is one entry of ApiStages.
type TemplateStage struct {
	ApiID    string
	Stage    string
	Throttle map[string]Throttle
}

// CloudFormationStack is one stack's usage plan resources: logical id to
// the deployed properties and the physical id.
type CloudFormationStack struct {
	e        *Emulator
	deployed map[string]UsagePlanResource
	physical map[string]string
	tags     map[string]string
	// Updates counts the resource updates Deploy made.
	Updates int
}

// NewCloudFormationStack returns an empty stack on e.
func NewCloudFormationStack(e *Emulator) *CloudFormationStack {
	return &CloudFormationStack{e: e, deployed: map[string]UsagePlanResource{}, physical: map[string]string{}}
}

// PhysicalID is the usage plan id of a logical id ("" if none).
func (s *CloudFormationStack) PhysicalID(logicalID string) string { return s.physical[logicalID] }

// Deploy applies a template (logical id to resource) with stack-level tags.
func (s *CloudFormationStack) Deploy(template map[string]UsagePlanResource, stackTags map[string]string) error {
	tagsChanged := !maps.Equal(s.tags, stackTags)
	for _, id := range slices.Sorted(maps.Keys(template)) {
		want := template[id]
		physical, exists := s.physical[id]
		if !exists {
			planID, err := s.e.cfnCreate(want, stackTags)
			if err != nil {
				return fmt.Errorf("create %s: %w", id, err)
			}
			s.physical[id] = planID
		} else if tagsChanged || !sameProperties(s.deployed[id], want) {
			if err := s.e.cfnUpdate(physical, want, stackTags); err != nil {
				return fmt.Errorf("update %s: %w", id, err)
			}
			s.Updates++
		}
		s.deployed[id] = want
	}
	for _, id := range slices.Sorted(maps.Keys(s.deployed)) {
		if _, kept := template[id]; kept {
			continue
		}
		if !s.deployed[id].Retain {
			if err := s.e.cfnDelete(s.physical[id]); err != nil {
				return fmt.Errorf("delete %s: %w", id, err)
			}
		}
		delete(s.deployed, id)
		delete(s.physical, id)
	}
	s.tags = maps.Clone(stackTags)
	return nil
}

// sameProperties compares Properties only: DeletionPolicy is a resource
// attribute, not a property, and changing it alone makes CloudFormation
// call no update handler.
func sameProperties(a, b UsagePlanResource) bool {
	a.Retain, b.Retain = false, false
	return reflect.DeepEqual(a, b)
}

func resourceTags(r UsagePlanResource, stackTags map[string]string) map[string]string {
	tags := maps.Clone(stackTags)
	if tags == nil {
		tags = map[string]string{}
	}
	maps.Copy(tags, r.Tags)
	return tags
}

func templateStages(r UsagePlanResource) []planStage {
	var out []planStage
	for _, s := range r.ApiStages {
		ps := planStage{apiID: s.ApiID, stage: s.Stage}
		for k, t := range s.Throttle {
			if ps.throttle == nil {
				ps.throttle = map[string]throttle{}
			}
			ps.throttle[k] = *t.internal()
		}
		out = append(out, ps)
	}
	return out
}

func (r UsagePlanResource) quota() *quota {
	if r.Quota == nil {
		return nil
	}
	return &quota{limit: r.Quota.Limit, offset: r.Quota.Offset, period: r.Quota.Period}
}

func (e *Emulator) cfnCreate(r UsagePlanResource, stackTags map[string]string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, apiErr := e.createUsagePlan(r.UsagePlanName, r.Description, templateStages(r), r.Throttle.internal(), r.quota(), resourceTags(r, stackTags))
	if apiErr != nil {
		return "", apiErr
	}
	return p.id, nil
}

// cfnUpdate sets every property of the plan to the template's: the stage
// list becomes exactly ApiStages (with their throttles), whatever was
// attached outside the template.
func (e *Emulator) cfnUpdate(planID string, r UsagePlanResource, stackTags map[string]string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, apiErr := e.plan(planID)
	if apiErr != nil {
		return apiErr
	}
	next := p.clone()
	next.name, next.description = r.UsagePlanName, r.Description
	next.throttle, next.quota = r.Throttle.internal(), r.quota()
	next.stages = templateStages(r)
	next.tags = resourceTags(r, stackTags)
	var added []planStage
	for _, s := range next.stages {
		if !e.stageExists(s.apiID, s.stage) {
			return badRequest("Invalid API Stage {api: %s, stage: %s} specified for usageplan %s", s.apiID, s.stage, p.id)
		}
		if p.stageIndex(s.apiID, s.stage) < 0 {
			added = append(added, s)
		}
	}
	if apiErr := e.validatePlan(next, added); apiErr != nil {
		return apiErr
	}
	e.st.plans[p.id] = next
	return nil
}

func (e *Emulator) cfnDelete(planID string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, apiErr := e.plan(planID)
	if apiErr != nil {
		return apiErr
	}
	// CloudFormation's delete handler removes the plan's stages first, then
	// the plan (its keys go with it).
	p.stages = nil
	for _, keyID := range p.keyIDs {
		if k := e.st.keys[keyID]; k != nil {
			delete(k.planIDs, p.id)
		}
	}
	delete(e.st.plans, p.id)
	e.st.planIDs.remove(p.id)
	return nil
}
