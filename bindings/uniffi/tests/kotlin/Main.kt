// The uniffi Kotlin binding against a real `minoots serve --dev` (MINOOTS_BIN) that this
// program starts on 127.0.0.1:0: suspend functions, the callback-interface stream and its
// handle, and error mapping. Exits non-zero on the first failed check.

import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
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

fun main() = runBlocking {
    val binary = System.getenv("MINOOTS_BIN") ?: error("set MINOOTS_BIN to the minoots binary")
    val dataDir = java.nio.file.Files.createTempDirectory("minoots-kotlin")
    val server = ProcessBuilder(binary, "serve", "--dev", "--listen", "127.0.0.1:0", "--data-dir", dataDir.toString())
        .redirectError(ProcessBuilder.Redirect.INHERIT)
        .start()
    try {
        val stdout = server.inputStream.bufferedReader()
        val first = stdout.readLine() ?: error("minoots exited before listening")
        check(first.startsWith("minoots listening on ")) { first }
        val url = first.removePrefix("minoots listening on ").trim()
        Thread { stdout.readText() }.apply { isDaemon = true }.start()

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

        val timer = client.schedule(ScheduleOptions(name = "standup", after = "50ms", labels = mapOf("lang" to "kotlin")))
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
            client.schedule(ScheduleOptions(name = "x", after = "15 parsecs", labels = mapOf()))
        }
        check(bad.field == "duration") { bad.field }
        expect<MinootsException.NotFound> { client.get("0190c0de-0000-7000-8000-000000000000") }
        val far = client.schedule(ScheduleOptions(name = "far", after = "1h", labels = mapOf()))
        expect<MinootsException.DeadlineExceeded> { client.waitFor(far.id, false, 200uL) }
        check(client.cancel(far.id, "done with it").status == "cancelled") { "cancel" }
        val stranger = connect(url, ConnectOptions(apiKey = "wrong-key", tenant = "kotlin"))
        expect<MinootsException.Unauthenticated> { stranger.list(null, null) }
        val refused = Collector()
        stranger.stream(null, listOf(), refused).use {
            check(refused.errors.poll(60, TimeUnit.SECONDS) == "UNAUTHENTICATED") { "stream error" }
        }
        check(parseDurationMs("1h30m") == 5_400_000uL) { "parseDurationMs" }
        println("kotlin binding: all checks passed")
    } finally {
        server.destroyForcibly()
    }
}
