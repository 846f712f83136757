/* test_ingest.c: placeholder, being written. */
int main(void)
{
    return 77;
}
