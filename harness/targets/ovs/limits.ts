/**
 * Open vSwitch's own limits on the frames this target can replay (each refused with
 * CTO_OVS_INJECT before anything is injected, so the target stays usable and a replay reports
 * the packet on its row and goes on):
 * - under 14 bytes: `netdev-dummy/receive` rejects it ("Packet data too short for Ethernet",
 *   lib/packets.c `eth_from_hex`);
 * - over OVS_MAX_FRAME bytes: the frame could not come back in an NXT_PACKET_IN2 (the lookup
 *   trampolines and `controller` outputs carry the whole frame, and an OpenFlow message's
 *   length is 16 bits; OVS then writes a message whose length field wrapped, which breaks the
 *   connection). 512 bytes are left for the header and the metadata/userdata properties (an
 *   IPv6 ct tuple needs about 200).
 * Output MTU: netdev-dummy drops a frame longer than MTU + 14 (+4 with a VLAN tag) on output
 * (lib/netdev-dummy.c `netdev_dummy_send`) and the default MTU is 1500, while the model has no
 * MTU; the ports are therefore created with the largest MTU a dummy port accepts (65535,
 * `DUMMY_MAX_MTU`), so every frame this target accepts is output as the model outputs it.
 */
export const OVS_MIN_FRAME = 14;
export const OVS_MAX_FRAME = 65535 - 512;
/** The MTU the target gives its dummy ports (instance.ts). */
export const OVS_PORT_MTU = 65535;
