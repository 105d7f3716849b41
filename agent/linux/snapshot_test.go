package linux

import (
	"encoding/json"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func fullState(t *testing.T) *State {
	t.Helper()
	st := activeBackup()
	st.Index, st.MTU, st.Up = 7, 9000, true
	st.MAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	for _, cidr := range []string{"10.0.0.1/24", "fd00::1/64"} {
		a, err := netlink.ParseAddr(cidr)
		require.NoError(t, err)
		a.ValidLft, a.PreferedLft = 0xffffffff, 0xffffffff
		st.Addrs = append(st.Addrs, *a)
	}
	_, dst, err := net.ParseCIDR("192.168.0.0/16")
	require.NoError(t, err)
	st.Routes = []netlink.Route{
		{Gw: net.ParseIP("10.0.0.2"), Priority: 100, Table: unix.RT_TABLE_MAIN, Protocol: unix.RTPROT_STATIC, Family: unix.AF_INET},
		{Dst: dst, Gw: net.ParseIP("10.0.0.3"), Src: net.ParseIP("10.0.0.1"), Table: unix.RT_TABLE_MAIN, Protocol: unix.RTPROT_BOOT},
	}
	return st
}

func TestSnapshotRoundTrip(t *testing.T) {
	st := fullState(t)
	data, err := json.Marshal(st)
	require.NoError(t, err)
	var back State
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Empty(t, st.Differences(&back), "a snapshot read back is the state it was made from")
	assert.Equal(t, st.Routes[1].Src.String(), back.Routes[1].Src.String())
	assert.Equal(t, st.Addrs[0].ValidLft, back.Addrs[0].ValidLft)
}

func TestSnapshotRefusesRoutesItCannotRestore(t *testing.T) {
	st := fullState(t)
	st.Routes[0].MultiPath = []*netlink.NexthopInfo{{Gw: net.ParseIP("10.0.0.2")}, {Gw: net.ParseIP("10.0.0.3")}}
	_, err := json.Marshal(st)
	assert.ErrorContains(t, err, "cannot restore exactly")
}

func TestSnapshotDecodeRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"unknown field":  `{"name":"bond0","mode":"active-backup","slaves":["eth0"],"extra":1}`,
		"unknown mode":   `{"name":"bond0","mode":"mesh","slaves":["eth0"]}`,
		"unknown option": `{"name":"bond0","mode":"active-backup","slaves":["eth0"],"options":{"arp_ip_target":"1.2.3.4"}}`,
		"no slaves":      `{"name":"bond0","mode":"active-backup","slaves":[]}`,
		"bad address":    `{"name":"bond0","mode":"active-backup","slaves":["eth0"],"addrs":[{"cidr":"10.0.0.300/24"}]}`,
		"bad gateway":    `{"name":"bond0","mode":"active-backup","slaves":["eth0"],"routes":[{"gw":"x"}]}`,
		"long name":      `{"name":"bond0123456789012","mode":"active-backup","slaves":["eth0"]}`,
	} {
		t.Run(name, func(t *testing.T) {
			var st State
			assert.ErrorContains(t, json.Unmarshal([]byte(in), &st), "bond snapshot")
		})
	}
}

func TestConfigDifferencesIgnoreAddressesAndRoutes(t *testing.T) {
	a, b := fullState(t), fullState(t)
	b.Addrs, b.Routes, b.Up = nil, nil, false
	assert.Empty(t, configDifferences(a, b))
	b.Options["miimon"] = "200"
	assert.Equal(t, []string{`miimon "200", was "100"`}, configDifferences(a, b))
}

// FuzzSnapshot checks that reading a snapshot (a journal file's "pre" or
// "post") never panics and that what it accepts writes back and reads
// again as the same state.
func FuzzSnapshot(f *testing.F) {
	st := fullState(&testing.T{})
	data, _ := json.Marshal(st)
	f.Add(data)
	f.Add([]byte(`{"name":"bond0","mode":"802.3ad","slaves":["eth0"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var st State
		if json.Unmarshal(data, &st) != nil {
			return
		}
		again, err := json.Marshal(&st)
		if err != nil {
			return
		}
		var back State
		require.NoError(t, json.Unmarshal(again, &back))
		require.Empty(t, st.Differences(&back))
	})
}
