package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

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

func TestLINSTORValidation(t *testing.T) {
	base := "clusterName: a\nsite: b\nnamespace: c\nstateDir: /x\n"
	for _, tc := range []struct{ name, linstor, want string }{
		{"none", "", ""},
		{"empty section", "linstor: {}", ""},
		{"plain", "linstor: {controllers: [http://linstor:3370]}", ""},
		{"full tls", "linstor: {controllers: [https://a, https://b:3371/], timeout: 10s, tls: {caFile: /s/ca.crt, certFile: /s/tls.crt, keyFile: /s/tls.key}, basicAuth: {username: u, passwordFile: /s/password}}", ""},
		{"token", "linstor: {controllers: [https://a], tls: {caFile: /s/ca.crt}, bearerTokenFile: /s/token}", ""},
		{"settings without controllers", "linstor: {timeout: 5s}", "linstor.controllers is required with other linstor settings"},
		{"no scheme", "linstor: {controllers: [linstor:3370]}", `linstor.controllers[0] "linstor:3370" is not an http or https URL`},
		{"bare host", "linstor: {controllers: [linstor]}", `linstor.controllers[0] "linstor" is not an http or https URL`},
		{"bad scheme", "linstor: {controllers: [http://a, ftp://b]}", `linstor.controllers[1] "ftp://b" is not an http or https URL`},
		{"not a URL", "linstor: {controllers: ['http://a b']}", `linstor.controllers[0] "http://a b" is not a URL`},
		{"no host", "linstor: {controllers: ['https://']}", `linstor.controllers[0] "https://" has no host`},
		{"empty", "linstor: {controllers: ['']}", "linstor.controllers[0] is empty"},
		{"path", "linstor: {controllers: [http://a/v1]}", `linstor.controllers[0] "http://a/v1" must be scheme://host[:port] only`},
		{"tls needs https", "linstor: {controllers: [http://a], tls: {caFile: /ca}}", `linstor.controllers[0] "http://a" is not https, but linstor.tls is set`},
		{"bad timeout", "linstor: {controllers: [http://a], timeout: soon}", `linstor.timeout "soon" is not a positive duration`},
		{"zero timeout", "linstor: {controllers: [http://a], timeout: 0s}", `linstor.timeout "0s" is not a positive duration`},
		{"cert without key", "linstor: {controllers: [https://a], tls: {certFile: /c}}", "linstor.tls.certFile and linstor.tls.keyFile go together"},
		{"key without cert", "linstor: {controllers: [https://a], tls: {keyFile: /k}}", "linstor.tls.certFile and linstor.tls.keyFile go together"},
		{"both auths", "linstor: {controllers: [http://a], basicAuth: {username: u, passwordFile: /p}, bearerTokenFile: /t}", "linstor.basicAuth and linstor.bearerTokenFile exclude each other"},
		{"no password", "linstor: {controllers: [http://a], basicAuth: {username: u}}", "linstor.basicAuth.passwordFile is required with linstor.basicAuth.username"},
		{"no username", "linstor: {controllers: [http://a], basicAuth: {passwordFile: /p}}", "linstor.basicAuth.username is required with linstor.basicAuth.passwordFile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("r.yaml", []byte(base+tc.linstor+"\n"))
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
	c, err := Parse("r.yaml", []byte(base+"linstor: {controllers: [http://a], timeout: 2m}\n"))
	require.NoError(t, err)
	assert.True(t, c.LINSTOR.Enabled())
	assert.Equal(t, 2*time.Minute, c.LINSTOR.TimeoutDuration())
	assert.Equal(t, DefaultLINSTORTimeout, LINSTORConfig{}.TimeoutDuration())
	assert.False(t, LINSTORConfig{}.Enabled())
	_, err = Parse("r.yaml", []byte(base+"linstor: {controllers: [http://a], password: x}\n"))
	require.Error(t, err, "unknown keys are errors: no secret is written into the config")
	assert.Contains(t, err.Error(), "field password not found")
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
	f.Add([]byte("clusterName: a\nsite: b\nnamespace: c\nstateDir: /x\nlinstor: {controllers: [https://a:3371, 'http://[::1]'], timeout: 5s, tls: {caFile: /ca, certFile: /c, keyFile: /k}, basicAuth: {username: u, passwordFile: /p}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err == nil {
			_ = c.Validate()
		}
	})
}
