// Sends a lead's journey to Sluice with the official Segment Node SDK, unmodified.
//
// Usage: node tests/sdks/node_sdk.mjs HOST WRITE_KEY
//   HOST       Sluice's URL, e.g. http://127.0.0.1:8080 (the SDK posts to HOST/v1/batch)
//   WRITE_KEY  a Sluice write key
//
// Exit code 0 when every call was delivered and accepted, 1 otherwise. Run by
// crates/sluice-server/tests/sdks.rs; install the SDK with `npm ci --prefix tests/sdks`
// (package.json pins @segment/analytics-node; see .ci/run).

let Analytics
try {
  ;({ Analytics } = await import('@segment/analytics-node'))
} catch (e) {
  console.error(`@segment/analytics-node is not installed: ${e.message}`)
  process.exit(3)
}

const [host, writeKey] = process.argv.slice(2)
if (!host || !writeKey) {
  console.error('usage: node tests/sdks/node_sdk.mjs HOST WRITE_KEY')
  process.exit(2)
}

const USER = 'sdk-node'
// The SDK's documented options: host (and path, whose default is /v1/batch), flushAt.
const analytics = new Analytics({ writeKey, host, path: '/v1/batch', flushAt: 1, maxRetries: 2 })

const errors = []
analytics.on('error', (err) => {
  errors.push(err)
  console.error(`node SDK: delivery failed: ${err.code}: ${err.reason ?? err.message}`)
})
analytics.on('http_response', (res) => {
  if (res.status >= 300) console.error(`node SDK: HTTP ${res.status} ${res.statusText} from ${res.url}`)
})

analytics.identify({
  userId: USER,
  traits: { email: 'node@acme.io', title: 'VP Data Platform', seniority: 'vp', department: 'data' },
})
analytics.group({ userId: USER, groupId: 'acme-node', traits: { name: 'Acme Node', industry: 'Software', employees: 900 } })
analytics.page({
  userId: USER,
  category: 'Docs',
  name: 'Pricing',
  properties: { path: '/pricing', url: 'https://example.com/pricing' },
})
analytics.track({ userId: USER, event: 'Demo Requested', properties: { plan: 'enterprise' } })
analytics.alias({ previousId: 'sdk-node-previous', userId: USER })

await analytics.closeAndFlush({ timeout: 20000 })

if (errors.length) process.exit(1)
console.log('node SDK: 5 calls delivered')
