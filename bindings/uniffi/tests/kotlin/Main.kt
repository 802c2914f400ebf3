// The uniffi Kotlin binding against a real `minoots serve --dev` (MINOOTS_BIN) that this
// program starts on 127.0.0.1:0: suspend functions, the callback-interface stream and its
// handle, error mapping, scheduleMany, dead letters (with a webhook receiver here that fails
// until told otherwise), flow control and callbacks, recurring schedules, the label parser and
// the agent tools. Exits non-zero on the first failed check.

import com.sun.net.httpserver.HttpServer
import java.net.InetSocketAddress
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import kotlinx.coroutines.runBlocking
import uniffi.minoots.*

fun check(condition: Boolean, message: () -> String) {
    if (!condition) throw AssertionError(message())
}

inline fun <reified E : Throwable> expect(block: () -> Unit): E {
    try {
        block()
    } catch (e: Throwable) {
        if (e is E) return e
        throw AssertionError("expected ${E::class.simpleName}, got $e")
    }
    throw AssertionError("expected ${E::class.simpleName}, nothing was thrown")
}

class Collector : EventListener {
    val events = LinkedBlockingQueue<TimerEvent>()
    val errors = LinkedBlockingQueue<String>()
    override fun onEvent(event: TimerEvent) = events.put(event)
    override fun onError(code: String, message: String) = errors.put(code)
}

/** A webhook receiver on 127.0.0.1:0 answering every POST with `status`; counts `hits`. */
class Receiver {
    val status = AtomicInteger(500)
    val hits = AtomicInteger(0)
    /** Every delivery as received: its headers (first value of each) and body. */
    val deliveries = LinkedBlockingQueue<Pair<Map<String, String>, ByteArray>>()
    val server: HttpServer = HttpServer.create(InetSocketAddress("127.0.0.1", 0), 0).apply {
        createContext("/hook") { exchange ->
            val body = exchange.requestBody.readAllBytes()
            deliveries.put(exchange.requestHeaders.mapValues { it.value.first() } to body)
            hits.incrementAndGet()
            exchange.sendResponseHeaders(status.get(), -1)
            exchange.close()
        }
        start()
    }
    val url = "http://127.0.0.1:${server.address.port}/hook"
}

suspend fun scheduleMany(client: Client) {
    val timers = client.scheduleMany(listOf(
        ScheduleOptions(name = "a", duration = "1h", labels = mapOf("batch" to "many")),
        ScheduleOptions(name = "b", fireAt = "2030-01-01T09:00:00Z", labels = mapOf("batch" to "many")),
    ))
    check(timers.map { it.name } == listOf("a", "b")) { "scheduleMany ${timers.map { it.name }}" }
    val bad = expect<MinootsException.InvalidArgument> {
        client.scheduleMany(listOf(
            ScheduleOptions(name = "fine", duration = "1m", labels = mapOf("batch" to "many")),
            ScheduleOptions(name = "x", duration = "15 parsecs", labels = mapOf()),
        ))
    }
    check(bad.field == "duration") { bad.field }
    check(client.list("batch=many", null).map { it.name }.sorted() == listOf("a", "b")) { "one bad timer rejects all" }
}

suspend fun deadLetters(client: Client, other: Client) {
    val receiver = Receiver()
    try {
        val bundle = """{"actions": [{"type": "webhook", "url": "${receiver.url}"}],
            "retryPolicy": {"maxAttempts": 2, "initialBackoffMs": 10, "jitter": 0.0}}"""
        suspend fun failedTimer(): Timer {
            val timer = client.schedule(ScheduleOptions(name = "hook", duration = "10ms", labels = mapOf(), actionBundleJson = bundle))
            val done = client.waitFor(timer.id, true, 60_000uL)
            check(done.status == "failed") { "hook timer ${done.status}" }
            return timer
        }
        val timer = failedTimer()
        check(receiver.hits.get() == 2) { "hits ${receiver.hits.get()}" }
        val letters = client.deadLetters(null, false)
        check(letters.map { it.timerId } == listOf(timer.id)) { "deadLetters ${letters.map { it.timerId }}" }
        val letter = client.deadLetter(letters[0].id)
        check(letter.attempts == 2u && letter.idempotencyKey == "${timer.id}:0" && letter.resolvedAt == null) { "$letter" }
        check(letter.actionJson.contains("\"webhook\"")) { letter.actionJson }
        check(client.deadLetters("1h", false).map { it.id } == listOf(letter.id)) { "since 1h" }
        check(client.deadLetters("2100-01-01T00:00:00Z", false).isEmpty()) { "since the future" }
        check(other.deadLetters(null, true).isEmpty()) { "another tenant's" }

        // Still broken: the replay runs, fails again, and the letter stays.
        val again = client.replayDeadLetter(letter.id)
        check(again.result?.ok == false && again.timer?.status == "failed") { "$again" }
        receiver.status.set(200)
        val fixed = client.replayDeadLetter(letter.id)
        check(fixed.result?.ok == true && fixed.timer?.status == "settled") { "$fixed" }
        check(fixed.deadLetter?.resolvedAt != null) { "resolved" }
        check(client.deadLetters(null, false).isEmpty()) { "nothing unresolved" }
        check(client.deadLetters(null, true).map { it.id } == listOf(letter.id)) { "includeResolved" }

        receiver.status.set(500)
        val more = setOf(failedTimer().id, failedTimer().id)
        receiver.status.set(200)
        val results = client.replayDeadLetters("1h")
        check(results.mapNotNull { it.timer?.id }.toSet() == more) { "replayDeadLetters" }
        check(results.all { it.result?.ok == true && it.timer?.status == "settled" }) { "$results" }

        expect<MinootsException.NotFound> { client.deadLetter("0190c0de-0000-7000-8000-000000000000") }
        val bad = expect<MinootsException.InvalidArgument> { client.deadLetters("yesterday", false) }
        check(bad.field == "since") { bad.field }
    } finally {
        receiver.server.stop(0)
    }
}

suspend fun agentTools(client: Client) {
    val names = toolSpecs().map { it.name }
    check(names == listOf(
        "schedule_timer", "get_timer", "list_timers", "cancel_timer", "update_timer", "pause_timer",
        "resume_timer", "cancel_timers", "wait_for_timer", "create_schedule", "get_schedule",
        "list_schedules", "pause_schedule", "resume_schedule", "delete_schedule", "preview_schedule",
    )) { "$names" }
    check(toolSpecs().all { it.parametersJson.contains("\"type\":\"object\"") }) { "tool parameters" }
    val timer = client.callTool("schedule_timer", """{"name": "tool", "duration": "100ms", "labels": {"via": "kotlin"}}""")
    val id = Regex("\"id\":\"([0-9a-f-]{36})\"").find(timer)?.groupValues?.get(1) ?: error(timer)
    val done = client.callTool("wait_for_timer", """{"id": "$id", "until": "done", "timeout_seconds": 60}""")
    check(done.contains("\"status\":\"settled\"")) { done }
    check(client.callTool("list_timers", """{"label_selector": "via=kotlin"}""").contains(id)) { "list_timers" }
    val bad = expect<MinootsException.InvalidArgument> { client.callTool("schedule_timer", """{"name": "x", "duraton": "1m"}""") }
    check(bad.field == "duraton") { bad.field }
}

/** Timer control: update by key and by id (a stale stateVersion is Aborted), pause, resume, bulk. */
suspend fun control(client: Client) {
    val timer = client.schedule(ScheduleOptions(name = "invoice", duration = "1h", labels = mapOf("team" to "core"), idempotencyKey = "invoice-42"))
    check(client.getByKey("invoice-42").id == timer.id) { "getByKey" }
    val moved = client.update(UpdateOptions(idempotencyKey = "invoice-42", duration = "2h", labels = mapOf("team" to "billing")))
    check(moved.id == timer.id && moved.labels == mapOf("team" to "billing")) { "$moved" }
    check(moved.fireAt!! > timer.fireAt!! && moved.stateVersion > timer.stateVersion) { "moved ${moved.fireAt}" }
    val renamed = client.update(UpdateOptions(id = timer.id, name = "renamed", expectedStateVersion = moved.stateVersion))
    check(renamed.name == "renamed") { renamed.name }
    expect<MinootsException.Aborted> {
        client.update(UpdateOptions(id = timer.id, name = "lost", expectedStateVersion = moved.stateVersion))
    }
    check(client.pause(timer.id, "on hold").status == "paused") { "pause" }
    check(client.get(timer.id).status == "paused") { "paused" }
    check(client.resume(timer.id).status == "armed") { "resume" }
    val replaced = client.schedule(ScheduleOptions(name = "invoice", duration = "3h", labels = mapOf("team" to "billing"), idempotencyKey = "invoice-42", keyPolicy = "replace"))
    check(replaced.id == timer.id && replaced.fireAt!! > moved.fireAt!!) { "replace ${replaced.fireAt}" }
    check(client.pauseTimers(SelectOptions(labelSelector = "team=billing")) == SelectResult(1uL, 1uL)) { "pauseTimers" }
    check(client.resumeTimers(SelectOptions(labelSelector = "team=billing")) == SelectResult(1uL, 1uL)) { "resumeTimers" }
    check(client.cancelTimers(SelectOptions(labelSelector = "team=billing", dryRun = true)) == SelectResult(1uL, 0uL)) { "dry run" }
    check(client.cancelTimers(SelectOptions(labelSelector = "team=billing", reason = "paid")) == SelectResult(1uL, 1uL)) { "cancelTimers" }
    check(client.getByKey("invoice-42").status == "cancelled") { "cancelled" }
    val paused = client.pauseTenant("incident")
    check(paused.paused && paused.reason == "incident" && client.tenantPause().paused) { "$paused" }
    check(!client.resumeTenant().paused) { "resumeTenant" }
}

/** Weekday and wall time of an RFC 3339 instant in Europe/Paris, e.g. `MONDAY 09:00`. */
fun parisWallTime(instant: String): String {
    val local = java.time.Instant.parse(instant).atZone(java.time.ZoneId.of("Europe/Paris"))
    return "${local.dayOfWeek} ${"%02d:%02d".format(local.hour, local.minute)}"
}

val WEEKDAY_NINE = Regex("^(MONDAY|TUESDAY|WEDNESDAY|THURSDAY|FRIDAY) 09:00$")

/** Recurring schedules: a cron in Europe/Paris previewed, paused, resumed, updated, deleted. */
suspend fun schedules(client: Client) {
    val schedule = client.createSchedule(RecurringOptions(
        name = "standup", cron = "0 9 * * MON-FRI", timeZone = "Europe/Paris",
        labels = mapOf("team" to "core"), metadataJson = """{"room": 4}""",
        webhook = "https://example.com/standup", idempotencyKey = "standup-paris",
    ))
    check(schedule.state == "active" && schedule.cron == "0 9 * * MON-FRI" && schedule.timeZone == "Europe/Paris") { "$schedule" }
    check(schedule.labels == mapOf("team" to "core") && schedule.metadataJson?.contains("\"room\"") == true) { "$schedule" }
    check(schedule.json.contains("https://example.com/standup")) { schedule.json }
    check(WEEKDAY_NINE.matches(parisWallTime(schedule.nextFireAt!!))) { "next ${schedule.nextFireAt}" }
    check(client.getSchedule(schedule.id).id == schedule.id) { "getSchedule" }
    check(client.getScheduleByKey("standup-paris").id == schedule.id) { "getScheduleByKey" }

    val preview = client.previewSchedule(PreviewOf.Id(schedule.id), 5u, null)
    check(preview.fireAt.size == 5 && preview.localTimes.size == 5) { "$preview" }
    preview.fireAt.forEachIndexed { i, instant ->
        check(WEEKDAY_NINE.matches(parisWallTime(instant))) { "$instant is ${parisWallTime(instant)} in Paris" }
        check(Regex("T09:00:00[+-]0[12]:00\\[Europe/Paris]$").containsMatchIn(preview.localTimes[i])) { preview.localTimes[i] }
    }
    // A spec not yet created, from a given instant: Paris moves to summer time on Sunday 28
    // March 2027, so 09:00 is 08:00Z on the Friday before and 07:00Z from the Monday.
    val fromSpec = client.previewSchedule(
        PreviewOf.Spec(RecurringOptions(name = "standup", cron = "0 9 * * MON-FRI", timeZone = "Europe/Paris")),
        3u, "2027-03-26T00:00:00Z",
    )
    check(fromSpec.fireAt == listOf("2027-03-26T08:00:00Z", "2027-03-29T07:00:00Z", "2027-03-30T07:00:00Z")) { "${fromSpec.fireAt}" }

    val paused = client.pauseSchedule(schedule.id, "holidays")
    check(paused.state == "paused" && paused.pauseReason == "holidays" && paused.version > schedule.version) { "$paused" }
    check(client.listSchedules(ListSchedulesOptions(states = listOf("paused"))).schedules.map { it.id } == listOf(schedule.id)) { "list paused" }
    val resumed = client.resumeSchedule(schedule.id)
    check(resumed.state == "active") { resumed.state }
    val moved = client.updateSchedule(ScheduleUpdate(id = schedule.id, timeZone = "America/New_York", expectedVersion = resumed.version))
    check(moved.timeZone == "America/New_York" && moved.cron == "0 9 * * MON-FRI") { "$moved" }
    expect<MinootsException.Aborted> {
        client.updateSchedule(ScheduleUpdate(id = schedule.id, name = "lost", expectedVersion = resumed.version))
    }
    val deleted = client.deleteSchedule(schedule.id)
    check(deleted.state == "deleted") { deleted.state }
    check(client.getSchedule(schedule.id).state == "deleted") { "deleted" }
    check(client.listSchedules(ListSchedulesOptions()).schedules.isEmpty()) { "deleted schedules are not listed by default" }

    val poll = client.createSchedule(RecurringOptions(name = "poll", interval = "15m", maxRuns = 3uL, paused = true))
    check(poll.state == "paused" && poll.intervalMs == 900_000uL && poll.maxRuns == 3uL) { "$poll" }

    val badCron = expect<MinootsException.InvalidArgument> {
        client.createSchedule(RecurringOptions(name = "bad", cron = "0 25 * * MON-FRI", timeZone = "Europe/Paris"))
    }
    check(badCron.field.endsWith("cron")) { "field ${badCron.field}: ${badCron.detail}" }
    val badInterval = expect<MinootsException.InvalidArgument> {
        client.createSchedule(RecurringOptions(name = "bad", interval = "15 parsecs"))
    }
    check(badInterval.field == "interval") { badInterval.field }
    val badState = expect<MinootsException.InvalidArgument> { client.listSchedules(ListSchedulesOptions(states = listOf("sleeping"))) }
    check(badState.field == "states") { badState.field }
    expect<MinootsException.NotFound> { client.getSchedule("0190c0de-0000-7000-8000-000000000000") }
}

/** The secret the test server signs with (`--signing-secrets`): the Standard Webhooks test vector's. */
const val SIGNING_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

/** A real signed delivery from the server, verified with verifyWebhook; tampering is named. */
/** Flow control and the onSuccess / onFailure callbacks, in the REST JSON form. */
suspend fun deliveryControl(client: Client) {
    val hook = Receiver().apply { status.set(200) }
    val callbacks = Receiver().apply { status.set(200) }
    try {
        val bundle = """{"actions": [{"type": "webhook", "url": "${hook.url}",
                "flowControl": {"key": "hooks", "maxConcurrent": 2, "maxPerSecond": 20}}],
            "onSuccess": {"id": "done", "type": "webhook", "url": "${callbacks.url}"},
            "onFailure": {"id": "alarm", "type": "webhook", "url": "${callbacks.url}"}}"""
        val timer = client.schedule(ScheduleOptions(name = "callbacks", duration = "10ms", labels = mapOf(), actionBundleJson = bundle))
        check(timer.json.contains("\"maxPerSecond\":20") && timer.json.contains("\"onFailure\"")) { timer.json }
        val done = client.waitFor(timer.id, true, 60_000uL)
        check(done.status == "settled") { done.status }
        check(done.json.contains("\"callback\":\"on_success\"")) { done.json }
        val (headers, body) = callbacks.deliveries.poll(60, TimeUnit.SECONDS) ?: error("no callback within 60 s")
        verifyWebhook(listOf(SIGNING_SECRET), headers, body)
        val id = headers.entries.first { it.key.equals("webhook-id", ignoreCase = true) }.value
        check(id == "${timer.id}:on_success") { id }
        check(String(body).contains("\"type\":\"timer.on_success\"")) { String(body) }
        val bad = expect<MinootsException.InvalidArgument> {
            client.schedule(ScheduleOptions(name = "bad", duration = "1h", labels = mapOf(),
                actionBundleJson = """{"actions": [{"type": "webhook", "url": "${hook.url}", "flowControl": {"maxConcurrent": 5000}}]}"""))
        }
        check(bad.field == "action_bundle.actions[0].webhook.flow_control.max_concurrent") { bad.field }
    } finally {
        hook.server.stop(0)
        callbacks.server.stop(0)
    }
}

suspend fun verifiesWebhooks(client: Client) {
    val receiver = Receiver()
    receiver.status.set(200)
    try {
        val timer = client.schedule(ScheduleOptions(name = "signed", duration = "10ms", labels = mapOf(), webhook = receiver.url))
        val (headers, body) = receiver.deliveries.poll(60, TimeUnit.SECONDS) ?: error("no webhook within 60 s")
        check(String(body).contains(timer.id)) { String(body) }
        verifyWebhook(listOf(SIGNING_SECRET), headers, body)
        val tampered = expect<MinootsException.InvalidSignature> {
            verifyWebhook(listOf(SIGNING_SECRET), headers, body + " ".toByteArray())
        }
        check(tampered.part == "webhook-signature") { tampered.part }
        expect<MinootsException.InvalidSignature> {
            verifyWebhook(listOf("whsec_" + java.util.Base64.getEncoder().encodeToString(ByteArray(24))), headers, body)
        }
        val missing = expect<MinootsException.InvalidSignature> {
            verifyWebhook(listOf(SIGNING_SECRET), headers.filterKeys { !it.equals("webhook-id", ignoreCase = true) }, body)
        }
        check(missing.part == "webhook-id") { missing.part }
    } finally {
        receiver.server.stop(0)
    }
}

/** Starts `minoots serve --dev` with extra arguments; returns the process and the URL it prints. */
fun startServer(binary: String, vararg extra: String): Pair<Process, String> {
    val dataDir = java.nio.file.Files.createTempDirectory("minoots-kotlin")
    val server = ProcessBuilder(
        binary, "serve", "--dev", "--listen", "127.0.0.1:0", "--data-dir", dataDir.toString(),
        "--webhook-allow", "127.0.0.1", *extra,
    )
        .redirectError(ProcessBuilder.Redirect.INHERIT)
        .start()
    val stdout = server.inputStream.bufferedReader()
    val first = stdout.readLine() ?: error("minoots exited before listening")
    check(first.startsWith("minoots listening on ")) { first }
    Thread { stdout.readText() }.apply { isDaemon = true }.start()
    return server to first.removePrefix("minoots listening on ").trim()
}

/**
 * The binding over https against the server's TLS listener, trusting the test CA the test
 * command made with openssl (MINOOTS_TEST_TLS_DIR: ca.pem, server.pem, server.key).
 */
suspend fun overTls(binary: String) {
    val dir = System.getenv("MINOOTS_TEST_TLS_DIR") ?: error("set MINOOTS_TEST_TLS_DIR (the test command does)")
    val (server, url) = startServer(binary, "--tls-cert", "$dir/server.pem", "--tls-key", "$dir/server.key")
    try {
        check(url.startsWith("https://")) { url }
        val ca = java.io.File("$dir/ca.pem").readText()
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60)
        lateinit var client: Client
        while (true) {
            try {
                client = connect(url, ConnectOptions(apiKey = "local-dev-key", tenant = "tls", caCertificate = ca))
                client.list(null, 1u)
                break
            } catch (e: MinootsException.Transport) {
                if (System.nanoTime() > deadline) throw e
                Thread.sleep(50)
            }
        }
        val timer = client.schedule(ScheduleOptions(name = "over-tls", duration = "20ms", labels = mapOf()))
        check(client.waitFor(timer.id, true, 60_000uL).status == "settled") { "over tls" }
        // Without the CA the server's certificate is not trusted.
        expect<MinootsException.Transport> {
            connect(url, ConnectOptions(apiKey = "local-dev-key", connectTimeoutMs = 5_000uL)).list(null, 1u)
        }
    } finally {
        server.destroyForcibly()
    }
}

fun main() = runBlocking {
    val binary = System.getenv("MINOOTS_BIN") ?: error("set MINOOTS_BIN to the minoots binary")
    val (server, url) = startServer(binary, "--signing-secrets", SIGNING_SECRET)
    try {
        // Ready once the binding connects and answers.
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60)
        lateinit var client: Client
        while (true) {
            try {
                client = connect(url, ConnectOptions(apiKey = "local-dev-key", tenant = "kotlin"))
                client.list(null, 1u)
                break
            } catch (e: MinootsException) {
                if (System.nanoTime() > deadline) throw e
                Thread.sleep(50)
            }
        }

        readmeExample(url)

        val timer = client.schedule(ScheduleOptions(name = "standup", duration = "50ms", labels = mapOf("lang" to "kotlin")))
        check(timer.labels["lang"] == "kotlin") { "labels ${timer.labels}" }

        // The stream replays from the start of the log, then goes live.
        val collector = Collector()
        val handle = client.stream(0uL, listOf(), collector)
        val types = (1..4).map { collector.events.poll(60, TimeUnit.SECONDS) ?: error("no event within 60 s") }
            .onEach { check(it.timerId == timer.id) { "event of ${it.timerId}" } }
            .map { it.eventType }
        check(types == listOf("timer.scheduled", "timer.armed", "timer.fired", "timer.settled")) { "$types" }
        handle.cancel()
        handle.close()
        val done = client.waitFor(timer.id, true, 60_000uL)
        check(done.status == "settled") { done.status }
        check(client.list("lang=kotlin", null).map { it.id } == listOf(timer.id)) { "list" }

        // Errors: one Kotlin exception class per kind, with the field where there is one.
        val bad = expect<MinootsException.InvalidArgument> {
            client.schedule(ScheduleOptions(name = "x", duration = "15 parsecs", labels = mapOf()))
        }
        check(bad.field == "duration") { bad.field }
        expect<MinootsException.NotFound> { client.get("0190c0de-0000-7000-8000-000000000000") }
        val far = client.schedule(ScheduleOptions(name = "far", duration = "1h", labels = mapOf()))
        expect<MinootsException.DeadlineExceeded> { client.waitFor(far.id, false, 200uL) }
        check(client.cancel(far.id, "done with it").status == "cancelled") { "cancel" }
        val stranger = connect(url, ConnectOptions(apiKey = "wrong-key", tenant = "kotlin"))
        expect<MinootsException.Unauthenticated> { stranger.list(null, null) }
        val refused = Collector()
        stranger.stream(null, listOf(), refused).use {
            check(refused.errors.poll(60, TimeUnit.SECONDS) == "UNAUTHENTICATED") { "stream error" }
        }
        check(parseDurationMs("1h30m") == 5_400_000uL) { "parseDurationMs" }
        expect<MinootsException.Transport> {
            connect("http://127.0.0.1:1", ConnectOptions(apiKey = "local-dev-key", connectTimeoutMs = 2_000uL))
        }

        scheduleMany(connect(url, ConnectOptions(apiKey = "local-dev-key", tenant = "many")))
        deadLetters(
            connect(url, ConnectOptions(apiKey = "local-dev-key", tenant = "dlq")),
            connect(url, ConnectOptions(apiKey = "local-dev-key", tenant = "other")),
        )
        agentTools(connect(url, ConnectOptions(apiKey = "local-dev-key", tenant = "tools")))
        control(connect(url, ConnectOptions(apiKey = "local-dev-key", tenant = "control")))
        verifiesWebhooks(connect(url, ConnectOptions(apiKey = "local-dev-key", tenant = "signed")))
        deliveryControl(connect(url, ConnectOptions(apiKey = "local-dev-key", tenant = "delivery")))
        schedules(connect(url, ConnectOptions(apiKey = "local-dev-key", tenant = "schedules")))
        // No key given: the environment's MINOOTS_API_KEY (the test command sets it), as in every client.
        check(System.getenv("MINOOTS_API_KEY") == "local-dev-key") { "run with MINOOTS_API_KEY=local-dev-key" }
        connect(url, ConnectOptions(tenant = "env")).list(null, 1u)
        expect<MinootsException.Unauthenticated> { connect(url, ConnectOptions(apiKey = "wrong-key")).list(null, 1u) }
        overTls(binary)
        check(parseLabels("team=core, env=prod\nquery=a=b") == mapOf("team" to "core", "env" to "prod", "query" to "a=b")) { "parseLabels" }
        val badLabels = expect<MinootsException.InvalidArgument> { parseLabels("team=core,oops") }
        check(badLabels.field == "labels" && badLabels.detail.contains("\"oops\"")) { badLabels.detail }
        println("kotlin binding: all checks passed")
    } finally {
        server.destroyForcibly()
    }
}
