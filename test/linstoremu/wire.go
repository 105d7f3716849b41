package linstoremu

// The wire shapes below follow the schemas of linstor-server's
// docs/rest_v1_openapi.yaml (1.28.0) by field name; they carry the fields
// a controller fills for the objects the emulator has.

type apiCallRc struct {
	RetCode    int64             `json:"ret_code"`
	Message    string            `json:"message"`
	Cause      string            `json:"cause,omitempty"`
	Details    string            `json:"details,omitempty"`
	Correction string            `json:"correction,omitempty"`
	ObjRefs    map[string]string `json:"obj_refs,omitempty"`
}

type wireNetInterface struct {
	Name                    string `json:"name"`
	Address                 string `json:"address"`
	SatellitePort           int32  `json:"satellite_port,omitempty"`
	SatelliteEncryptionType string `json:"satellite_encryption_type,omitempty"`
	IsActive                bool   `json:"is_active,omitempty"`
	UUID                    string `json:"uuid,omitempty"`
}

type wireNode struct {
	Name             string             `json:"name"`
	Type             string             `json:"type"`
	Flags            []string           `json:"flags"`
	Props            map[string]string  `json:"props"`
	NetInterfaces    []wireNetInterface `json:"net_interfaces"`
	ConnectionStatus string             `json:"connection_status"`
	UUID             string             `json:"uuid"`
	StorageProviders []string           `json:"storage_providers"`
	ResourceLayers   []string           `json:"resource_layers"`
}

type wireStoragePool struct {
	StoragePoolName   string            `json:"storage_pool_name"`
	NodeName          string            `json:"node_name"`
	ProviderKind      string            `json:"provider_kind"`
	Props             map[string]string `json:"props,omitempty"`
	StaticTraits      map[string]string `json:"static_traits,omitempty"`
	FreeCapacity      *int64            `json:"free_capacity,omitempty"`
	TotalCapacity     *int64            `json:"total_capacity,omitempty"`
	FreeSpaceMgrName  string            `json:"free_space_mgr_name"`
	UUID              string            `json:"uuid"`
	SupportsSnapshots bool              `json:"supports_snapshots"`
	ExternalLocking   bool              `json:"external_locking"`
}

// wireSelectFilter is AutoSelectFilter. Pointers tell a field left out
// from one sent as its zero value, as a PUT with "select_filter":{} must
// change nothing.
type wireSelectFilter struct {
	PlaceCount              *int32         `json:"place_count,omitempty"`
	AdditionalPlaceCount    *int32         `json:"additional_place_count,omitempty"`
	NodeNameList            []string       `json:"node_name_list,omitempty"`
	StoragePool             *string        `json:"storage_pool,omitempty"`
	StoragePoolList         []string       `json:"storage_pool_list,omitempty"`
	StoragePoolDisklessList []string       `json:"storage_pool_diskless_list,omitempty"`
	NotPlaceWithRsc         []string       `json:"not_place_with_rsc,omitempty"`
	NotPlaceWithRscRegex    string         `json:"not_place_with_rsc_regex,omitempty"`
	ReplicasOnSame          []string       `json:"replicas_on_same,omitempty"`
	ReplicasOnDifferent     []string       `json:"replicas_on_different,omitempty"`
	XReplicasOnDifferent    map[string]int `json:"x_replicas_on_different_map,omitempty"`
	LayerStack              []string       `json:"layer_stack,omitempty"`
	ProviderList            []string       `json:"provider_list,omitempty"`
	DisklessOnRemaining     *bool          `json:"diskless_on_remaining,omitempty"`
	DisklessType            string         `json:"diskless_type,omitempty"`
	Overprovision           *float64       `json:"overprovision,omitempty"`
	PortCount               *int32         `json:"port_count,omitempty"`
}

type wireResourceGroup struct {
	Name         string            `json:"name"`
	Description  string            `json:"description,omitempty"`
	Props        map[string]string `json:"props,omitempty"`
	SelectFilter wireSelectFilter  `json:"select_filter"`
	UUID         string            `json:"uuid"`
}

type wireResourceGroupModify struct {
	Description      *string           `json:"description,omitempty"`
	OverrideProps    map[string]string `json:"override_props,omitempty"`
	DeleteProps      []string          `json:"delete_props,omitempty"`
	DeleteNamespaces []string          `json:"delete_namespaces,omitempty"`
	SelectFilter     *wireSelectFilter `json:"select_filter,omitempty"`
	PeerSlots        *int32            `json:"peer_slots,omitempty"`
}

type wireAutoPlaceRequest struct {
	DisklessOnRemaining *bool             `json:"diskless_on_remaining,omitempty"`
	SelectFilter        *wireSelectFilter `json:"select_filter"`
	LayerList           []string          `json:"layer_list,omitempty"`
}

type wireRDLayerData struct {
	ResourceNameSuffix string `json:"resource_name_suffix"`
	PeerSlots          int32  `json:"peer_slots"`
	AlStripes          int64  `json:"al_stripes"`
	AlStripeSizeKib    int64  `json:"al_stripe_size_kib"`
	Port               int32  `json:"port"`
	TransportType      string `json:"transport_type"`
	Secret             string `json:"secret"`
	Down               bool   `json:"down"`
}

type wireRDLayer struct {
	Type string           `json:"type"`
	Data *wireRDLayerData `json:"data,omitempty"`
}

type wireVolumeDefinition struct {
	VolumeNumber int32             `json:"volume_number"`
	SizeKib      int64             `json:"size_kib"`
	Props        map[string]string `json:"props,omitempty"`
	Flags        []string          `json:"flags"`
	UUID         string            `json:"uuid"`
}

type wireResourceDefinition struct {
	Name              string                 `json:"name"`
	ExternalName      string                 `json:"external_name,omitempty"`
	Props             map[string]string      `json:"props"`
	Flags             []string               `json:"flags"`
	LayerData         []wireRDLayer          `json:"layer_data"`
	UUID              string                 `json:"uuid"`
	ResourceGroupName string                 `json:"resource_group_name"`
	VolumeDefinitions []wireVolumeDefinition `json:"volume_definitions,omitempty"`
}

type wireDrbdConnection struct {
	Connected bool   `json:"connected"`
	Message   string `json:"message"`
}

type wireDrbdVolumeDefinition struct {
	ResourceNameSuffix string `json:"resource_name_suffix"`
	VolumeNumber       int32  `json:"volume_number"`
	MinorNumber        int32  `json:"minor_number"`
}

type wireDrbdVolume struct {
	DrbdVolumeDefinition wireDrbdVolumeDefinition `json:"drbd_volume_definition"`
	DevicePath           string                   `json:"device_path"`
	BackingDevice        string                   `json:"backing_device"`
	AllocatedSizeKib     int64                    `json:"allocated_size_kib"`
	UsableSizeKib        int64                    `json:"usable_size_kib"`
	DiskState            string                   `json:"disk_state,omitempty"`
}

type wireDrbdResource struct {
	DrbdResourceDefinition wireRDLayerData               `json:"drbd_resource_definition"`
	NodeID                 int32                         `json:"node_id"`
	PeerSlots              int32                         `json:"peer_slots"`
	AlStripes              int32                         `json:"al_stripes"`
	AlSize                 int64                         `json:"al_size"`
	Flags                  []string                      `json:"flags"`
	DrbdVolumes            []wireDrbdVolume              `json:"drbd_volumes"`
	Connections            map[string]wireDrbdConnection `json:"connections,omitempty"`
	PromotionScore         int32                         `json:"promotion_score"`
	MayPromote             bool                          `json:"may_promote"`
}

type wireStorageVolume struct {
	VolumeNumber     int32  `json:"volume_number"`
	DevicePath       string `json:"device_path"`
	AllocatedSizeKib int64  `json:"allocated_size_kib"`
	UsableSizeKib    int64  `json:"usable_size_kib"`
	DiskState        string `json:"disk_state"`
}

type wireStorageResource struct {
	StorageVolumes []wireStorageVolume `json:"storage_volumes"`
}

type wireResourceLayer struct {
	Children           []wireResourceLayer  `json:"children,omitempty"`
	ResourceNameSuffix string               `json:"resource_name_suffix"`
	Type               string               `json:"type"`
	Drbd               *wireDrbdResource    `json:"drbd,omitempty"`
	Storage            *wireStorageResource `json:"storage,omitempty"`
}

type wireResourceState struct {
	InUse *bool `json:"in_use,omitempty"`
}

type wireReplicationState struct {
	ReplicationState string   `json:"replication_state,omitempty"`
	DonePercentage   *float64 `json:"done_percentage,omitempty"`
}

type wireVolumeState struct {
	DiskState         string                          `json:"disk_state,omitempty"`
	ReplicationStates map[string]wireReplicationState `json:"replication_states,omitempty"`
}

type wireVolume struct {
	VolumeNumber     int32             `json:"volume_number"`
	StoragePoolName  string            `json:"storage_pool_name"`
	ProviderKind     string            `json:"provider_kind"`
	DevicePath       string            `json:"device_path"`
	AllocatedSizeKib int64             `json:"allocated_size_kib"`
	UsableSizeKib    int64             `json:"usable_size_kib"`
	Props            map[string]string `json:"props,omitempty"`
	Flags            []string          `json:"flags"`
	State            wireVolumeState   `json:"state"`
	UUID             string            `json:"uuid"`
}

type wireResourceWithVolumes struct {
	Name            string             `json:"name"`
	NodeName        string             `json:"node_name"`
	Props           map[string]string  `json:"props"`
	Flags           []string           `json:"flags"`
	LayerObject     wireResourceLayer  `json:"layer_object"`
	State           *wireResourceState `json:"state,omitempty"`
	UUID            string             `json:"uuid"`
	CreateTimestamp int64              `json:"create_timestamp"`
	Volumes         []wireVolume       `json:"volumes"`
}

type wireSyncStatus struct {
	SyncedOnAll bool `json:"synced_on_all"`
}
