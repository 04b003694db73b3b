using CnnCluster.Engine.Training;
using Xunit;

namespace CnnCluster.Engine.Tests;

public sealed class ThreadTeamTests
{
    [Fact]
    public void EveryMemberRunsOncePerRoundOnItsOwnThread()
    {
        using var team = new ThreadTeam(3);
        for (int round = 0; round < 200; round++)
        {
            var runs = new int[3];
            var threads = new int[3];
            team.Run(m =>
            {
                Interlocked.Increment(ref runs[m]);
                threads[m] = Environment.CurrentManagedThreadId;
            });
            Assert.Equal([1, 1, 1], runs);
            Assert.Equal(Environment.CurrentManagedThreadId, threads[0]);
            Assert.Equal(3, threads.Distinct().Count());
        }
    }

    [Fact]
    public void AHelpersFailureReachesTheCallerAndTheTeamGoesOn()
    {
        using var team = new ThreadTeam(2);
        var e = Assert.Throws<AggregateException>(() => team.Run(m =>
        {
            if (m == 1)
            {
                throw new InvalidOperationException("member 1 failed");
            }
        }));
        Assert.IsType<InvalidOperationException>(e.InnerException);
        int sum = 0;
        team.Run(m => Interlocked.Add(ref sum, m + 1));
        Assert.Equal(3, sum);
    }

    [Fact]
    public async Task DisposingDuringARoundLetsTheRoundFinishAndLaterRoundsAreRefused()
    {
        var team = new ThreadTeam(2);
        using var started = new ManualResetEventSlim();
        var round = Task.Run(() => team.Run(m =>
        {
            if (m == 1)
            {
                started.Set();
                Thread.Sleep(100);
            }
        }));
        started.Wait(TimeSpan.FromSeconds(10));
        team.Dispose();
        await round.WaitAsync(TimeSpan.FromSeconds(10)); // throws TimeoutException if Run never returns
        Assert.Throws<ObjectDisposedException>(() => team.Run(_ => { }));
    }
}
