using System.Diagnostics;
using System.Text.Json;

namespace Qwen3Gen.Serving.Tests;

/// <summary>
/// A bounded load test: 16 concurrent streaming clients send 64 requests (8 prompts, 8 times each) to a server
/// with 8 sequence slots; every reply equals the reply to the same prompt sent alone, there is no 5xx, and
/// afterwards nothing runs or waits and the managed heap is back near its baseline.
/// </summary>
[Collection(Name)]
public class LoadTests
{
    /// <summary>Runs alone: the heap comparison and the batch sizes would count other tests' work.</summary>
    public const string Name = "Load";

    [Fact]
    public async Task SixteenStreamingClients_SixtyFourRequests_SameRepliesAsAlone()
    {
        await using var s = await TestServer.Start(ServingModels.Random(seed: 11), new BatchEngineOptions { Sequences = 8, Context = 256, PrefillChunk = 16, MaxQueue = 64 });
        object Body(int i) => new
        {
            messages = new object[] { new { role = "system", content = "You are a load test." }, new { role = "user", content = $"Prompt {i}: " + new string('z', i) } },
            max_tokens = 16,
            stream = true,
            stream_options = new { include_usage = true },
            chat_template_kwargs = new { enable_thinking = false },
        };
        var alone = new string[8];
        for (int i = 0; i < 8; i++) alone[i] = await Sse.Text(s.Http, "v1/chat/completions", Body(i), "content");
        Assert.True(alone.Distinct().Count() > 1, "the prompts should give different replies");

        GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect();
        long baseline = GC.GetTotalMemory(forceFullCollection: true);
        long stepsBefore = s.Engine.DecodeSteps, tokensBefore = s.Engine.DecodedTokens;

        int next = -1, errors = 0;
        var replies = new string[64];
        var clients = Enumerable.Range(0, 16).Select(async _ =>
        {
            for (int r; (r = Interlocked.Increment(ref next)) < 64;)
            {
                using var response = await s.Http.PostAsync("v1/chat/completions", OpenAiClientTests.Json(Body(r % 8)));
                if ((int)response.StatusCode >= 500) Interlocked.Increment(ref errors);
                Assert.Equal(200, (int)response.StatusCode);
                var events = Sse.Events(await response.Content.ReadAsStringAsync());
                Assert.Empty(events[^1].GetProperty("choices").EnumerateArray());              // the usage chunk
                Assert.True(events[^1].GetProperty("usage").GetProperty("completion_tokens").GetInt32() is > 0 and <= 16);
                replies[r] = string.Concat(events.Select(e => e.GetProperty("choices")).Where(c => c.GetArrayLength() > 0)
                    .Select(c => c[0].GetProperty("delta")).Select(d => d.TryGetProperty("content", out var v) ? v.GetString() : ""));
            }
        }).ToArray();
        await Task.WhenAll(clients);

        Assert.Equal(0, errors);
        for (int r = 0; r < 64; r++) Assert.Equal(alone[r % 8], replies[r]);
        double meanBatch = (double)(s.Engine.DecodedTokens - tokensBefore) / (s.Engine.DecodeSteps - stepsBefore);
        Assert.True(meanBatch > 2, $"mean decode batch {meanBatch:F2}: the requests did not run together");
        Assert.Equal(0, s.Engine.Running);
        Assert.Equal(0, s.Engine.Queued);
        GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect();
        long after = GC.GetTotalMemory(forceFullCollection: true);
        Assert.True(after - baseline < 8 << 20, $"managed heap {baseline / 1024} KiB before, {after / 1024} KiB after the load");
    }
}

[CollectionDefinition(LoadTests.Name, DisableParallelization = true)]
public sealed class LoadCollection;
