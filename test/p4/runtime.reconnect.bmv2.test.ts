/**
 * The client's reconnect policy against a real simple_switch_grpc: the switch goes away (the
 * session ends, primaryship is lost and said so), comes back on the same address, and the
 * client re-opens the stream and re-arbitrates by itself.
 */
import { afterAll, expect, it } from 'vitest';
import { P4InfoIndex, P4RuntimeClient, insert, tableEntry, waitForP4Runtime, type ArbitrationEvent } from '../../p4/index.js';
import { describeWithTools, BMV2_TOOL, P4C_TOOL } from '../support/tools.js';
import { compileFixture, startSwitch, type RunningSwitch } from './support/switch.js';

describeWithTools(
  'P4RuntimeClient reconnect against simple_switch_grpc',
  [
    BMV2_TOOL,
    P4C_TOOL,
  ],
  () => {
    let sw: RunningSwitch | undefined;
    let client: P4RuntimeClient | undefined;
    afterAll(async () => {
      client?.close();
      await sw?.stop();
    });

    it('loses primaryship when the switch goes away and regains it when it is back', async () => {
      const compiled = await compileFixture('ct_test.p4');
      const idx = P4InfoIndex.from(compiled.p4info);
      sw = await startSwitch();
      await waitForP4Runtime(sw.address, 10_000);
      client = await P4RuntimeClient.connect(sw.address, { deviceId: 1n, electionId: 1n, reconnect: { initialMs: 50, maxMs: 200 } });
      await client.setPipeline({ p4info: idx, deviceConfig: compiled.json });
      const events: ArbitrationEvent[] = [];
      client.on('arbitration', (ev: ArbitrationEvent) => events.push(ev));
      const disconnected = new Promise((r) => client!.once('disconnect', r));

      const { grpcPort, thriftPort } = sw;
      await sw.stop();
      await disconnected;
      expect(client.isPrimary).toBe(false);
      expect(events.at(-1)).toMatchObject({ role: 'ended', previous: 'primary' });
      await expect(client.write([])).rejects.toMatchObject({ code: 'CTO_P4RT_NOT_PRIMARY' });

      sw = await startSwitch({ grpcPort, thriftPort });
      await client.waitPrimary(10_000);
      expect(events.at(-1)).toMatchObject({ role: 'primary', previous: 'pending' });
      // A new switch has no pipeline: push it again and write.
      await client.setPipeline({ p4info: idx, deviceConfig: compiled.json });
      await client.write([insert(tableEntry(idx, 'zone_table', { match: { 'sm.ingress_port': 1 }, action: 'set_zone', params: { zone: 1 } }))]);
    });
  },
);
