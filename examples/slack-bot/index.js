'use strict'
// Runs the /ato bot: MINOOTS_URL, MINOOTS_API_KEY, MINOOTS_TENANT, SLACK_SIGNING_SECRET,
// SLACK_BOT_TOKEN, PORT (default 3000), HOST (default 127.0.0.1), ATO_STATE_FILE (remember the
// last event posted, so fires while the bot is down are posted when it returns).
const { createBot } = require('./bot')

const bot = createBot({
  minootsUrl: process.env.MINOOTS_URL || 'http://127.0.0.1:7070',
  apiKey: process.env.MINOOTS_API_KEY,
  tenant: process.env.MINOOTS_TENANT,
  signingSecret: process.env.SLACK_SIGNING_SECRET,
  botToken: process.env.SLACK_BOT_TOKEN,
  stateFile: process.env.ATO_STATE_FILE,
})
bot.listen(Number(process.env.PORT || 3000), process.env.HOST || '127.0.0.1').then((address) => {
  console.log(`/ato bot listening on http://${address.address}:${address.port}/slack/commands`)
})
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => bot.close().then(() => process.exit(0)))
