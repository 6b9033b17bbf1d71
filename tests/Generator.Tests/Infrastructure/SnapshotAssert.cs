using System.Runtime.CompilerServices;
using DiffPlex.Renderer;
using Xunit.Sdk;

namespace Qwen3Gen.Generator.Tests.Infrastructure;

/// <summary>
/// Compares generated text with the committed Snapshots/&lt;name&gt;.verified.cs. On a mismatch it writes
/// &lt;name&gt;.received.cs and &lt;name&gt;.received.diff (unified diff) next to it and fails with the diff.
/// UPDATE_SNAPSHOTS=1 accepts the received text as the new verified file (see README.md).
/// </summary>
public static class SnapshotAssert
{
    public static void Matches(string name, string actual, [CallerFilePath] string callerFile = "")
    {
        string folder = Path.Combine(Path.GetDirectoryName(callerFile)!, "Snapshots");
        // Callers live in the project folder or one folder below it (Infrastructure/, ...): find Snapshots/.
        if (!Directory.Exists(folder)) folder = Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(callerFile))!, "Snapshots");
        MatchesIn(folder, name, actual, update: Environment.GetEnvironmentVariable("UPDATE_SNAPSHOTS") == "1");
    }

    /// <summary>The comparison itself, on an explicit folder (the self-tests use a temporary one).</summary>
    public static void MatchesIn(string folder, string name, string actual, bool update)
    {
        Directory.CreateDirectory(folder);
        string verifiedPath = Path.Combine(folder, name + ".verified.cs");
        string receivedPath = Path.Combine(folder, name + ".received.cs");
        string diffPath = Path.Combine(folder, name + ".received.diff");

        actual = Normalise(actual);
        if (update)
        {
            File.WriteAllText(verifiedPath, actual);
            File.Delete(receivedPath);
            File.Delete(diffPath);
            return;
        }

        string expected = File.Exists(verifiedPath) ? Normalise(File.ReadAllText(verifiedPath)) : "";
        if (File.Exists(verifiedPath) && expected == actual)
        {
            File.Delete(receivedPath);                         // leftovers of an earlier failure
            File.Delete(diffPath);
            return;
        }

        string diff = UnidiffRenderer.GenerateUnidiff(expected, actual,
            "Snapshots/" + name + ".verified.cs", "Snapshots/" + name + ".received.cs", ignoreWhitespace: false, ignoreCase: false, contextLines: 3);
        File.WriteAllText(receivedPath, actual);
        File.WriteAllText(diffPath, diff);
        string why = File.Exists(verifiedPath) ? "differs from" : "has no committed";
        throw new XunitException(
            $"Snapshot '{name}': the generated text {why} {verifiedPath}.\n" +
            $"Received: {receivedPath}\nDiff: {diffPath}\n" +
            "Review the diff; accept with: UPDATE_SNAPSHOTS=1 dotnet test tests/Generator.Tests\n\n" + diff);
    }

    /// <summary>Line endings differ between checkouts (git autocrlf); the comparison ignores them.</summary>
    private static string Normalise(string text) => text.ReplaceLineEndings("\n");
}
