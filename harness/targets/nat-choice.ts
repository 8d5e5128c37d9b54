/**
 * Following the oracle's NAT choices. OVS 3.1 picks a new connection's translation from a hash
 * salted with `hash_basis = random_uint32()` drawn when ovs-vswitchd starts, and later rounds
 * of the port search start at `random_uint32()` (lib/conntrack.c `nat_get_unique_tuple`,
 * `nat_get_unique_l4`; docs/conntrack-semantics.md §11.3): which address and port it takes
 * from a range cannot be predicted from outside. Comparing the model's own pick with it would
 * report differences that are nobody's bug.
 *
 * So the reference learns the choice from the target: before the reference runs a packet, the
 * runner hands it the target's Verdict for that packet (Target.adoptChoices); when the reference
 * then commits a NATed connection, the translation is taken from the target's output packet
 * that carries the connection's translated tuple, if the NAT action could have produced it
 * (in the ranges, the untranslated endpoint unchanged: model/conntrack/nat.ts
 * `natTupleAllowed`) and it is free in the reference's table. Everything after — every later
 * packet of the connection in both directions, checksums, ct_state, clashes with later
 * connections — is compared as usual, so a target that uses its chosen tuple inconsistently
 * still disagrees. A choice that is out of range or taken is not adopted (the reference
 * allocates as OVS would and the difference shows). An output that left untranslated while no
 * output carries an allowed translation is read as exhaustion (the reference refuses the
 * commit too; a policy that outputs before its NAT commit would mislead this). When the target outputs no translated
 * packet (the policy drops it after the commit), nothing can be learnt and the reference keeps
 * its own choice.
 */
import { KEY_WORDS, K_DPORT, K_DST, K_META, K_SPORT, K_SRC, META_V6, NAT_ACTION_DST, NAT_ACTION_SRC, type NatChooser, type NatInfo, natTupleAllowed } from '../../model/conntrack/index.js';
import { IPPROTO_TCP, IPPROTO_UDP, L3_IPV6, PacketView } from '../../model/packet/index.js';
import type { VerdictOutput } from '../../model/index.js';

/** A NatChooser that takes the translation from `outputs` (the target's, for the same packet). */
export function natChooserFromOutputs(outputs: readonly VerdictOutput[]): NatChooser {
  let view: PacketView | undefined; // built on first use: most packets commit no NAT
  return (orig: Uint32Array, ni: NatInfo): Uint32Array | null | undefined => {
    // A bare ct(commit,nat) chooses nothing (docs/conntrack-semantics.md §11.2).
    if ((ni.action & (NAT_ACTION_SRC | NAT_ACTION_DST)) === 0) return undefined;
    view ??= new PacketView();
    let untranslated = false;
    const meta = orig[K_META]!;
    const v6 = (meta & META_V6) !== 0;
    const proto = (meta >>> 16) & 0xff;
    for (const o of outputs) {
      const v = view.parse(o.bytes);
      if (v.l3 === 0 || (v.l3 === L3_IPV6) !== v6 || v.ipProto !== proto) continue;
      // The output travels in the original direction, translated: the reply key is its reverse.
      const rk = new Uint32Array(KEY_WORDS);
      rk[K_META] = meta;
      for (let i = 0; i < 4; i++) {
        rk[K_SRC + i] = v.dst[i]!;
        rk[K_DST + i] = v.src[i]!;
      }
      if (proto === IPPROTO_TCP || proto === IPPROTO_UDP) {
        rk[K_SPORT] = v.dport;
        rk[K_DPORT] = v.sport;
      } else {
        // Ports are not translated for other protocols (ICMP ids stay): the reversed original.
        rk[K_SPORT] = orig[K_DPORT]!;
        rk[K_DPORT] = orig[K_SPORT]!;
      }
      if (natTupleAllowed(orig, ni, rk)) return rk;
      let same = true;
      for (let i = 0; i < KEY_WORDS && same; i++) if (rk[i] !== (i === K_META ? orig[i] : orig[i < K_DST ? i + 5 : i - 5])) same = false;
      if (same) untranslated = true;
    }
    // The connection's packet left untranslated and no output carries a translation the action
    // allows: OVS found the tuple space exhausted (its address is fixed by the hash, so that
    // happens while other addresses of the range are free) and committed nothing.
    return untranslated ? null : undefined;
  };
}
