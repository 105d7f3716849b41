package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseOfTheDeployment(t *testing.T) {
	path := filepath.Join("..", "..", "config", "manager", "reconciler.yaml")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	c, err := Parse(path, data)
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	assert.Equal(t, "nodewright-system", c.Namespace)
	require.NotNil(t, c.LeaderElect)
	assert.True(t, *c.LeaderElect)
	assert.Equal(t, "/var/lib/nodewright/audit.jsonl", c.Audit.File)
	assert.Equal(t, WebhookConfig{Port: 9443, CertDir: "/var/run/nodewright/webhook", Certs: CertsSelf, SecretName: "nodewright-webhook-cert",
		ServiceName: "nodewright-webhook", ConfigurationName: "nodewright-validating"}, c.Webhook)
	assert.Equal(t, "nodewright-agent", c.AgentServiceAccount)
	assert.Equal(t, "nodewright-agent", c.AgentNamespace, "the agents run in a namespace of their own")
}

func TestWebhookValidation(t *testing.T) {
	base := "clusterName: a\nsite: b\nnamespace: c\nstateDir: /x\n"
	// agents is the agent lines of a case; "" gives these.
	const agents = "agentServiceAccount: agent\nagentNamespace: agents\n"
	const files = "webhook: {port: 9443, certDir: /c, certs: files}"
	for _, tc := range []struct{ name, webhook, agent, want string }{
		{"off", "webhook: {port: 0, certs: bogus}", "", ""},
		{"off needs no agent", "webhook: {port: 0}", "# none\n", ""},
		{"files", files, "", ""},
		{"self", "webhook: {port: 9443, certDir: /c, certs: self, secretName: s, serviceName: v, configurationName: w}", "", ""},
		{"bad port", "webhook: {port: 70000, certDir: /c, certs: files}", "", "webhook.port 70000 is not a port"},
		{"no cert dir", "webhook: {port: 9443, certs: files}", "", "webhook.certDir is required with webhook.port"},
		{"unknown certs", "webhook: {port: 9443, certDir: /c, certs: vault}", "", `webhook.certs "vault" is not one of self, files`},
		{"self without names", "webhook: {port: 9443, certDir: /c, certs: self}", "", "webhook.secretName is required with webhook.certs: self; webhook.serviceName is required"},
		{"no agent namespace", files, "agentServiceAccount: agent\n", "agentNamespace is required with webhook.port"},
		{"bad agent namespace", files, "agentServiceAccount: agent\nagentNamespace: Agents_1\n", `agentNamespace "Agents_1" is not a DNS label`},
		{"no agent account", files, "agentNamespace: agents\n", "agentServiceAccount is required with webhook.port"},
		{"bad agent account", files, "agentServiceAccount: Agent!\nagentNamespace: agents\n", `agentServiceAccount "Agent!" is not a ServiceAccount name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			agent := tc.agent
			if agent == "" {
				agent = agents
			}
			c, err := Parse("r.yaml", []byte(base+agent+tc.webhook+"\n"))
			require.NoError(t, err)
			err = c.Validate()
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"unknown key", "clusterName: a\nsiet: b\n", "r.yaml:2: field siet not found"},
		{"wrong type", "leaderElect: maybe\n", "r.yaml:1: cannot unmarshal"},
		{"two documents", "clusterName: a\n---\nsite: b\n", "r.yaml:3: a second YAML document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("r.yaml", []byte(tc.data))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	c, err := Parse("r.yaml", []byte("clusterName: Edge_1\nnamespace: ns\naudit: {url: ftp://x}\n"))
	require.NoError(t, err)
	assert.EqualError(t, c.Validate(), `clusterName "Edge_1" is not a DNS label; site is required; stateDir is required; audit.spoolDir is required with audit.url; audit.url "ftp://x" is not an http(s) URL`)
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("clusterName: a\nsite: b\nnamespace: c\nstateDir: /x\naudit: {file: /y}\n"))
	f.Add([]byte("leaderElect: [1, 2]\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err == nil {
			_ = c.Validate()
		}
	})
}
