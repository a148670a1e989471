// The check happens in post.js, once the job is over.
console.log(`Port run ${process.env.INPUT_RUNID} will be checked at the end of the job`);
