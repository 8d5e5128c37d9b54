/** offload/fields.ts: the keyable fields are the model's match fields, in the model's order. */
import { describe, expect, it } from 'vitest';
import { isKeyFieldName, KEY_FIELDS, keyField } from '../../offload/fields.js';
import { MATCH_FIELDS, matchFieldInfo } from '../../model/pipeline/ast.js';

describe('offload key fields', () => {
  it('are model match fields, in the model canonical order', () => {
    const order = MATCH_FIELDS.map((f) => f.name);
    const idx = KEY_FIELDS.map((k) => order.indexOf(k.name));
    expect(idx.every((i) => i >= 0)).toBe(true);
    expect(idx).toEqual([...idx].sort((a, b) => a - b));
    expect(KEY_FIELDS.map((k) => k.name)).toEqual(order.filter(isKeyFieldName));
  });

  it('take the model width unless the hardware field is narrower', () => {
    expect(keyField('in_port').width).toBe(9); // bmv2 port numbers
    expect(keyField('ct_state').width).toBe(8); // the 8 bits OVS defines
    for (const k of KEY_FIELDS) {
      if (k.name !== 'in_port' && k.name !== 'ct_state') expect(k.width).toBe(matchFieldInfo(k.name).width);
    }
  });

  it('leave out the ct tuple fields (a punt) and names the model does not know', () => {
    for (const n of ['ct_nw_src', 'ct_ipv6_dst', 'ct_tp_src', 'ct_nw_proto', 'nw_tos', 'toString', '']) expect(isKeyFieldName(n)).toBe(false);
    expect(keyField('dl_vlan').expr).toBe('meta.fk.vlan_tci');
    expect(new Set(KEY_FIELDS.map((k) => k.expr)).size).toBe(KEY_FIELDS.length);
  });
});
